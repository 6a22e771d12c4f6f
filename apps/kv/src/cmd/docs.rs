//! COMMAND, COMMAND INFO and COMMAND DOCS as redis-server 7.0.15 answers them: each
//! command's entries are generated from Redis's command JSON files (`docs_table.rs`, by
//! `gen_docs.py`) as a small tree of reply nodes, written in the client's protocol.

pub(crate) use super::docs_table::Node;
use super::docs_table::ENTRIES;
use spindle_protocols::resp::ReplyWriter;

/// The COMMAND INFO entry and the COMMAND DOCS map of a command or subcommand, by its full
/// name in any case (`GET`, `config|get`).
pub(crate) fn entry(name: &[u8]) -> Option<(&'static Node, &'static Node)> {
    ENTRIES
        .iter()
        .find(|(n, _, _)| n.as_bytes().eq_ignore_ascii_case(name))
        .map(|(_, info, docs)| (*info, *docs))
}

/// Writes `node` as a reply.
pub(crate) fn write(out: &mut ReplyWriter<'_>, node: &Node) {
    match node {
        Node::Map(pairs) => {
            out.map_len(pairs.len());
            for (key, value) in *pairs {
                out.bulk(key.as_bytes());
                write(out, value);
            }
        }
        Node::Array(items) => {
            out.array_len(items.len());
            items.iter().for_each(|n| write(out, n));
        }
        Node::Set(items) => {
            out.set_len(items.len());
            items.iter().for_each(|n| write(out, n));
        }
        Node::Bulk(text) => out.bulk(text.as_bytes()),
        Node::Status(text) => out.simple(text),
        Node::Int(n) => out.int(*n),
        Node::Ref(node) => write(out, node),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_the_server_runs_is_described() {
        for command in crate::cmd::commands() {
            let (info, _) = entry(command.name.as_bytes())
                .unwrap_or_else(|| panic!("{} has no generated entry", command.name));
            let Node::Array(fields) = info else {
                panic!("{}: not an array", command.name)
            };
            assert!(
                matches!(fields.get(1), Some(Node::Int(a)) if *a == i64::from(command.arity)),
                "{}: the generated arity differs from the dispatch table's",
                command.name
            );
        }
    }
}
