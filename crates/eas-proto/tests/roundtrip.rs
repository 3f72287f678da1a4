//! Property tests: any tree encodes to bytes that decode to the same
//! tree; any bytes decode to a tree or an error, never a panic.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use proptest::prelude::*;
use tidings_eas_proto::{Element, Limits, Node, PAGES, Tag, decode, encode};

fn tag() -> impl Strategy<Value = Tag> {
    (0..PAGES.len()).prop_flat_map(|p| {
        let page = &PAGES[p];
        (0..page.tags.len()).prop_map(move |t| Tag {
            page: page.number,
            token: page.tags[t].0,
        })
    })
}

fn leaf() -> impl Strategy<Value = Node> {
    prop_oneof![
        "\\PC{0,12}".prop_map(Node::Text),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Node::Opaque),
        tag().prop_map(|t| Node::Element(Element::new(t))),
    ]
}

fn element() -> impl Strategy<Value = Element> {
    let node = leaf().prop_recursive(6, 64, 5, |inner| {
        (tag(), proptest::collection::vec(inner, 0..5)).prop_map(|(tag, children)| {
            Node::Element(Element {
                tag,
                children: normalise(children),
            })
        })
    });
    (tag(), proptest::collection::vec(node, 0..6)).prop_map(|(tag, children)| Element {
        tag,
        children: normalise(children),
    })
}

/// The decoder joins adjacent text pieces: so do the generated trees.
fn normalise(children: Vec<Node>) -> Vec<Node> {
    let mut out: Vec<Node> = Vec::new();
    for n in children {
        match (out.last_mut(), n) {
            (Some(Node::Text(a)), Node::Text(b)) => a.push_str(&b),
            (_, n) => out.push(n),
        }
    }
    out
}

proptest! {
    #[test]
    fn encode_then_decode_is_identity(e in element()) {
        let bytes = encode(&e);
        prop_assert_eq!(decode(&bytes, &Limits::default()), Ok(e));
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut doc = vec![0x03, 0x01, 0x6A, 0x00];
        doc.extend(&data);
        tidings_eas_proto::fuzz::wbxml(&doc);
        tidings_eas_proto::fuzz::wbxml(&data);
    }

    #[test]
    fn every_truncation_is_an_error(e in element()) {
        let bytes = encode(&e);
        for cut in 0..bytes.len() {
            prop_assert!(decode(&bytes[..cut], &Limits::default()).is_err());
        }
    }
}
