//! The document tree: elements with element, text and opaque children.

use crate::codepage::Tag;

/// A child of an element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    Element(Element),
    /// Character data (`STR_I`, `STR_T`, entities; adjacent pieces joined).
    Text(String),
    /// Opaque bytes (`OPAQUE`): MIME messages, attachments.
    Opaque(Vec<u8>),
}

/// An element: a tag and its children, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Element {
    pub tag: Tag,
    pub children: Vec<Node>,
}

impl Element {
    /// An empty element (`<Tag/>`).
    pub fn new(tag: Tag) -> Self {
        Element {
            tag,
            children: Vec::new(),
        }
    }

    /// An element holding one text node.
    pub fn text(tag: Tag, text: impl Into<String>) -> Self {
        Element {
            tag,
            children: vec![Node::Text(text.into())],
        }
    }

    /// An element holding opaque bytes.
    pub fn opaque(tag: Tag, bytes: Vec<u8>) -> Self {
        Element {
            tag,
            children: vec![Node::Opaque(bytes)],
        }
    }

    /// Adds a child element (builder style).
    #[must_use]
    pub fn with(mut self, child: Element) -> Self {
        self.children.push(Node::Element(child));
        self
    }

    /// Adds a child element holding `text` (builder style).
    #[must_use]
    pub fn with_text(self, tag: Tag, text: impl Into<String>) -> Self {
        self.with(Element::text(tag, text))
    }

    /// Adds a child element.
    pub fn push(&mut self, child: Element) {
        self.children.push(Node::Element(child));
    }

    /// The child elements, in order.
    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            _ => None,
        })
    }

    /// The first child element with `tag`.
    pub fn child(&self, tag: Tag) -> Option<&Element> {
        self.elements().find(|e| e.tag == tag)
    }

    /// Every child element with `tag`.
    pub fn children_with(&self, tag: Tag) -> impl Iterator<Item = &Element> {
        self.elements().filter(move |e| e.tag == tag)
    }

    /// The element's text: its text nodes joined, or its opaque bytes
    /// read as UTF-8 (some clients send short values as opaque data).
    pub fn content(&self) -> Option<String> {
        let mut out: Option<String> = None;
        for n in &self.children {
            let piece = match n {
                Node::Text(t) => t.as_str(),
                Node::Opaque(b) => std::str::from_utf8(b).ok()?,
                Node::Element(_) => continue,
            };
            out.get_or_insert_with(String::new).push_str(piece);
        }
        out
    }

    /// The text of the first child element with `tag`.
    pub fn child_text(&self, tag: Tag) -> Option<String> {
        self.child(tag)?.content()
    }

    /// The opaque bytes of the element, else its text as bytes.
    pub fn bytes(&self) -> Option<Vec<u8>> {
        let mut out: Option<Vec<u8>> = None;
        for n in &self.children {
            let piece = match n {
                Node::Text(t) => t.as_bytes(),
                Node::Opaque(b) => b.as_slice(),
                Node::Element(_) => continue,
            };
            out.get_or_insert_with(Vec::new).extend_from_slice(piece);
        }
        out
    }

    /// An XML rendering, for logs and tests: namespaces as libwbxml
    /// writes them (`xmlns="AirSync:"`), opaque data in base64-free hex
    /// (`[opaque 3 bytes: 616263]`). Not a parser input.
    pub fn to_xml(&self) -> String {
        let mut out = String::new();
        self.write_xml(&mut out, None);
        out
    }

    fn write_xml(&self, out: &mut String, parent_page: Option<u8>) {
        use std::fmt::Write;
        let name = self.tag.name().unwrap_or("unknown");
        let _ = write!(out, "<{name}");
        if parent_page != Some(self.tag.page) {
            let ns = self.tag.namespace().unwrap_or("unknown");
            let _ = write!(out, " xmlns=\"{ns}:\"");
        }
        if self.children.is_empty() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        for n in &self.children {
            match n {
                Node::Element(e) => e.write_xml(out, Some(self.tag.page)),
                Node::Text(t) => {
                    for c in t.chars() {
                        match c {
                            '<' => out.push_str("&lt;"),
                            '>' => out.push_str("&gt;"),
                            '&' => out.push_str("&amp;"),
                            c => out.push(c),
                        }
                    }
                }
                Node::Opaque(b) => {
                    let _ = write!(out, "[opaque {} bytes: ", b.len());
                    for byte in b.iter().take(64) {
                        let _ = write!(out, "{byte:02x}");
                    }
                    out.push(']');
                }
            }
        }
        let _ = write!(out, "</{name}>");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tags::{AirSync, FolderHierarchy};

    #[test]
    fn accessors_find_children_and_text() {
        let e = Element::new(AirSync::Collection)
            .with_text(AirSync::SyncKey, "5")
            .with_text(AirSync::CollectionId, "3")
            .with(Element::opaque(AirSync::Class, b"Email".to_vec()));
        assert_eq!(e.child_text(AirSync::SyncKey).as_deref(), Some("5"));
        assert_eq!(e.child_text(AirSync::Class).as_deref(), Some("Email"));
        assert_eq!(e.child(AirSync::Commands), None);
        assert_eq!(e.elements().count(), 3);
        assert_eq!(Element::new(AirSync::Sync).content(), None);
    }

    #[test]
    fn xml_rendering_names_namespaces_where_they_change() {
        let e = Element::new(FolderHierarchy::FolderSync)
            .with_text(FolderHierarchy::SyncKey, "a<b")
            .with(Element::new(AirSync::Status));
        assert_eq!(
            e.to_xml(),
            "<FolderSync xmlns=\"FolderHierarchy:\"><SyncKey>a&lt;b</SyncKey>\
             <Status xmlns=\"AirSync:\"/></FolderSync>"
        );
    }
}
