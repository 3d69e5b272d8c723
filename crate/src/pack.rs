//! Test/calibration packs (`EWTP`) and reference outputs (`EWRF`); formats in `BUNDLE.md`.

use crate::error::{err, ErrorCode, Result};

/// Labelled images, u8 pixels CHW.
#[derive(Debug, Clone, PartialEq)]
pub struct Pack {
    pub count: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub pixels: Vec<u8>,
    pub labels: Vec<u8>,
}

/// Per image, per exit: logits then (when present) confidence.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    pub count: usize,
    pub widths: Vec<usize>,
    pub values: Vec<f32>,
}

struct Reader<'a> {
    name: &'a str,
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        match self.at.checked_add(n).filter(|&end| end <= self.bytes.len()) {
            Some(end) => {
                let s = &self.bytes[self.at..end];
                self.at = end;
                Ok(s)
            }
            None => err(ErrorCode::BadPack, format!("{}: truncated at byte {} (needs {n} more)", self.name, self.at)),
        }
    }
    fn u32(&mut self) -> Result<usize> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    }
    fn header(&mut self, magic: &[u8; 4]) -> Result<()> {
        if self.take(4)? != magic {
            return err(ErrorCode::BadPack, format!("{}: not a {} file", self.name, String::from_utf8_lossy(magic)));
        }
        match self.u32()? {
            1 => Ok(()),
            v => err(ErrorCode::BadPack, format!("{}: version {v} is not supported", self.name)),
        }
    }
    fn end(&self) -> Result<()> {
        if self.at != self.bytes.len() {
            return err(ErrorCode::BadPack, format!("{}: {} trailing bytes", self.name, self.bytes.len() - self.at));
        }
        Ok(())
    }
}

fn size(name: &str, dims: &[usize]) -> Result<usize> {
    dims.iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| crate::error::Error::new(ErrorCode::BadPack, format!("{name}: sizes overflow")))
}

impl Pack {
    pub fn parse(name: &str, bytes: &[u8]) -> Result<Pack> {
        let mut r = Reader { name, bytes, at: 0 };
        r.header(b"EWTP")?;
        let (count, channels, height, width) = (r.u32()?, r.u32()?, r.u32()?, r.u32()?);
        let pixels = r.take(size(name, &[count, channels, height, width])?)?.to_vec();
        let labels = r.take(count)?.to_vec();
        r.end()?;
        Ok(Pack { count, channels, height, width, pixels, labels })
    }

    pub fn image(&self, i: usize) -> &[u8] {
        let len = self.channels * self.height * self.width;
        &self.pixels[i * len..(i + 1) * len]
    }

    /// Serialises (used by tests and tools that make packs).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = b"EWTP".to_vec();
        for v in [1, self.count, self.channels, self.height, self.width] {
            b.extend((v as u32).to_le_bytes());
        }
        b.extend(&self.pixels);
        b.extend(&self.labels);
        b
    }
}

impl Reference {
    pub fn parse(name: &str, bytes: &[u8]) -> Result<Reference> {
        let mut r = Reader { name, bytes, at: 0 };
        r.header(b"EWRF")?;
        let count = r.u32()?;
        let exits = r.u32()?;
        let widths = (0..exits).map(|_| r.u32()).collect::<Result<Vec<_>>>()?;
        let per_image: usize = widths.iter().try_fold(0usize, |a, &w| a.checked_add(w)).unwrap_or(usize::MAX);
        let raw = r.take(size(name, &[count, per_image, 4])?)?;
        r.end()?;
        let values = raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        Ok(Reference { count, widths, values })
    }

    /// Exit `e`'s record for image `i`.
    pub fn record(&self, i: usize, e: usize) -> &[f32] {
        let per_image: usize = self.widths.iter().sum();
        let start = i * per_image + self.widths[..e].iter().sum::<usize>();
        &self.values[start..start + self.widths[e]]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_round_trips_and_rejects_damage() {
        let p = Pack { count: 2, channels: 1, height: 2, width: 2, pixels: (0..8).collect(), labels: vec![3, 7] };
        let b = p.to_bytes();
        assert_eq!(Pack::parse("p", &b).unwrap(), p);
        assert_eq!(Pack::parse("p", &b).unwrap().image(1), &[4, 5, 6, 7]);
        for bad in [&b[..b.len() - 1], &b[..3], b"EWRF\x01\0\0\0"] {
            assert_eq!(Pack::parse("p", bad).unwrap_err().code, ErrorCode::BadPack);
        }
        let mut long = b.clone();
        long.push(0);
        assert_eq!(Pack::parse("p", &long).unwrap_err().code, ErrorCode::BadPack);
        let mut huge = b.clone();
        huge[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        huge[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(Pack::parse("p", &huge).unwrap_err().code, ErrorCode::BadPack);
    }

    #[test]
    fn reference_records() {
        let mut b = b"EWRF".to_vec();
        for v in [1u32, 2, 2, 2, 3] {
            b.extend(v.to_le_bytes());
        }
        for v in 0..10 {
            b.extend((v as f32).to_le_bytes());
        }
        let r = Reference::parse("r", &b).unwrap();
        assert_eq!(r.record(1, 1), &[7.0, 8.0, 9.0]);
        assert_eq!(Reference::parse("r", &b[..b.len() - 4]).unwrap_err().code, ErrorCode::BadPack);
    }
}
