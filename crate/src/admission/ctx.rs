//! Where a check failed (file, node, attribute or input) and typed attribute access: every
//! message names the file, the node (index, name, op_type) and what was wrong.

use crate::error::{Error, ErrorCode};
use tract_onnx::pb::{attribute_proto::AttributeType, AttributeProto, NodeProto, TensorProto};

/// A node being admitted, for messages.
pub struct At<'a> {
    pub file: &'a str,
    pub index: usize,
    pub node: &'a NodeProto,
}

impl At<'_> {
    pub fn whom(&self) -> String {
        let n = self.node;
        match n.name.is_empty() {
            true => format!("{}: node {} ({})", self.file, self.index, n.op_type),
            false => format!("{}: node {} {:?} ({})", self.file, self.index, n.name, n.op_type),
        }
    }
    /// Malformed or insane: `what` is e.g. "attribute strides" or "input 1 (pads)".
    pub fn bad(&self, what: &str, why: impl std::fmt::Display) -> Error {
        Error::new(ErrorCode::BadOnnx, format!("{}: {what}: {why}", self.whom()))
    }
    /// Well-formed but outside what exitwise runs.
    pub fn unsupported(&self, what: &str, why: impl std::fmt::Display) -> Error {
        Error::new(ErrorCode::UnsupportedOp, format!("{}: {what}: {why}", self.whom()))
    }
    pub fn attrs(&self) -> Attrs<'_> {
        Attrs { at: self, list: &self.node.attribute }
    }
}

pub struct Attrs<'a> {
    at: &'a At<'a>,
    list: &'a [AttributeProto],
}

fn type_name(t: i32) -> String {
    AttributeType::try_from(t).map(|t| format!("{t:?}").to_uppercase()).unwrap_or_else(|_| format!("type {t}"))
}

impl<'a> Attrs<'a> {
    /// Every attribute must be one `known` for the op (so none escapes the checks), named once,
    /// and not a reference to a function's attribute.
    pub fn only(&self, known: &[&str]) -> crate::error::Result<()> {
        for (i, a) in self.list.iter().enumerate() {
            let what = format!("attribute {}", a.name);
            if !known.contains(&a.name.as_str()) {
                return Err(self.at.bad(&what, format!("not an attribute of {} (known: {})", self.at.node.op_type, known.join(", "))));
            }
            // Past `known.len()` attributes, all known, one repeats (and the scan stays short).
            if i >= known.len() || self.list[..i].iter().any(|b| b.name == a.name) {
                return Err(self.at.bad(&what, "given twice"));
            }
            if !a.ref_attr_name.is_empty() {
                return Err(self.at.unsupported(&what, "a reference to a function attribute"));
            }
        }
        Ok(())
    }

    fn get(&self, name: &str, want: AttributeType) -> crate::error::Result<Option<&'a AttributeProto>> {
        match self.list.iter().find(|a| a.name == name) {
            None => Ok(None),
            Some(a) if a.r#type == want as i32 => Ok(Some(a)),
            Some(a) => Err(self.at.bad(&format!("attribute {name}"), format!("is {}, expected {}", type_name(a.r#type), type_name(want as i32)))),
        }
    }
    pub fn ints(&self, name: &str) -> crate::error::Result<Option<&'a [i64]>> {
        Ok(self.get(name, AttributeType::Ints)?.map(|a| a.ints.as_slice()))
    }
    pub fn int(&self, name: &str) -> crate::error::Result<Option<i64>> {
        Ok(self.get(name, AttributeType::Int)?.map(|a| a.i))
    }
    /// An INT attribute that must be 0 or 1 (default `default`).
    pub fn flag(&self, name: &str, default: bool) -> crate::error::Result<bool> {
        match self.int(name)? {
            None => Ok(default),
            Some(0) => Ok(false),
            Some(1) => Ok(true),
            Some(v) => Err(self.at.bad(&format!("attribute {name}"), format!("{v} must be 0 or 1"))),
        }
    }
    /// A FLOAT attribute, any value.
    pub fn float_any(&self, name: &str) -> crate::error::Result<Option<f32>> {
        Ok(self.get(name, AttributeType::Float)?.map(|a| a.f))
    }
    /// A FLOAT attribute that must be finite.
    pub fn float(&self, name: &str) -> crate::error::Result<Option<f32>> {
        match self.get(name, AttributeType::Float)?.map(|a| a.f) {
            Some(f) if !f.is_finite() => Err(self.at.bad(&format!("attribute {name}"), format!("{f} is not finite"))),
            f => Ok(f),
        }
    }
    pub fn floats(&self, name: &str) -> crate::error::Result<Option<&'a [f32]>> {
        Ok(self.get(name, AttributeType::Floats)?.map(|a| a.floats.as_slice()))
    }
    pub fn string(&self, name: &str) -> crate::error::Result<Option<&'a str>> {
        match self.get(name, AttributeType::String)? {
            None => Ok(None),
            Some(a) => std::str::from_utf8(&a.s).map(Some).map_err(|_| self.at.bad(&format!("attribute {name}"), "not UTF-8")),
        }
    }
    pub fn tensor(&self, name: &str) -> crate::error::Result<Option<&'a TensorProto>> {
        match self.get(name, AttributeType::Tensor)? {
            None => Ok(None),
            Some(a) => a.t.as_ref().map(Some).ok_or_else(|| self.at.bad(&format!("attribute {name}"), "TENSOR without a tensor")),
        }
    }
}
