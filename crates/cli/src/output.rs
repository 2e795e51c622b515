//! Writing vectors: JSON, JSON Lines, NumPy `.npy`.

use std::io::Write;

use anyhow::Result;

/// Writes a NumPy `.npy` (format 1.0) array of `rows × cols` little-endian
/// float32 values.
pub fn write_npy(out: &mut dyn Write, vectors: &[Vec<f32>]) -> Result<()> {
    let cols = vectors.first().map_or(0, Vec::len);
    if vectors.iter().any(|v| v.len() != cols) {
        anyhow::bail!("vectors of different lengths cannot form one array");
    }
    let dict = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}",
        vectors.len(),
        cols
    );
    // Magic (6) + version (2) + header length (2) + dict + padding + '\n' is a
    // multiple of 64.
    let unpadded = 10 + dict.len() + 1;
    let pad = (64 - unpadded % 64) % 64;
    let header = format!("{dict}{}\n", " ".repeat(pad));
    out.write_all(b"\x93NUMPY\x01\x00")?;
    out.write_all(&(header.len() as u16).to_le_bytes())?;
    out.write_all(header.as_bytes())?;
    for v in vectors {
        for x in v {
            out.write_all(&x.to_le_bytes())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_layout() {
        let mut buf = Vec::new();
        write_npy(&mut buf, &[vec![1.0, 2.0], vec![3.0, 4.0], vec![5.0, 6.0]]).unwrap();
        assert_eq!(&buf[..8], b"\x93NUMPY\x01\x00");
        let hlen = u16::from_le_bytes([buf[8], buf[9]]) as usize;
        assert_eq!((10 + hlen) % 64, 0);
        let header = std::str::from_utf8(&buf[10..10 + hlen]).unwrap();
        assert!(header.contains("'shape': (3, 2)"));
        assert!(header.ends_with('\n'));
        assert_eq!(buf.len(), 10 + hlen + 6 * 4);
        assert_eq!(&buf[10 + hlen..10 + hlen + 4], &1.0f32.to_le_bytes());
        assert!(write_npy(&mut Vec::new(), &[vec![1.0], vec![1.0, 2.0]]).is_err());
    }
}
