//! A gzip-compressed tar archive (POSIX ustar), written entry by entry: the customer export's
//! format. Only regular files with short names (at most 100 bytes), which is all the export
//! writes; `tar xzf` and every tar library read it.

use std::io::{self, Read, Write};

use flate2::Compression;
use flate2::write::GzEncoder;

const BLOCK: usize = 512;

/// Writes a `.tar.gz`.
#[derive(Debug)]
pub struct TarGz<W: Write> {
    out: GzEncoder<W>,
    mtime: u64,
}

fn octal(field: &mut [u8], value: u64) -> io::Result<()> {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    if text.len() > digits {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "a tar field overflows"));
    }
    field[..digits].copy_from_slice(text.as_bytes());
    field[digits] = 0;
    Ok(())
}

/// The 512-byte ustar header of a regular file.
fn header(name: &str, size: u64, mtime: u64) -> io::Result<[u8; BLOCK]> {
    let mut h = [0u8; BLOCK];
    if name.is_empty() || name.len() > 100 {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "a tar entry name must be 1 to 100 bytes"));
    }
    h[..name.len()].copy_from_slice(name.as_bytes());
    octal(&mut h[100..108], 0o644)?;
    octal(&mut h[108..116], 0)?;
    octal(&mut h[116..124], 0)?;
    octal(&mut h[124..136], size)?;
    octal(&mut h[136..148], mtime)?;
    h[156] = b'0';
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    // The checksum is computed with its own field as spaces.
    h[148..156].copy_from_slice(b"        ");
    let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
    octal(&mut h[148..155], sum)?;
    h[155] = b' ';
    Ok(h)
}

impl<W: Write> TarGz<W> {
    /// An archive whose entries carry `mtime` (Unix seconds).
    pub fn new(out: W, mtime: u64) -> Self {
        Self { out: GzEncoder::new(out, Compression::default()), mtime }
    }

    /// Adds the file `name` with `size` bytes read from `content`.
    ///
    /// # Errors
    /// A name too long, `content` shorter than `size`, or a write failure.
    pub fn append(&mut self, name: &str, size: u64, content: &mut impl Read) -> io::Result<()> {
        self.out.write_all(&header(name, size, self.mtime)?)?;
        let copied = io::copy(&mut content.take(size), &mut self.out)?;
        if copied != size {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "a tar entry is shorter than announced"));
        }
        let pad = (BLOCK - (size as usize % BLOCK)) % BLOCK;
        self.out.write_all(&[0u8; BLOCK][..pad])
    }

    /// Adds the file `name` with `bytes`.
    ///
    /// # Errors
    /// A name too long, or a write failure.
    pub fn append_bytes(&mut self, name: &str, bytes: &[u8]) -> io::Result<()> {
        self.append(name, bytes.len() as u64, &mut &bytes[..])
    }

    /// Writes the end of the archive and returns the writer.
    ///
    /// # Errors
    /// A write failure.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(&[0u8; 2 * BLOCK])?;
        self.out.finish()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_archive_is_read_back_by_gunzip_and_tar_rules() {
        let mut tar = TarGz::new(Vec::new(), 1_700_000_000);
        tar.append_bytes("manifest.json", b"{}").unwrap();
        tar.append_bytes("mail/1.eml", &vec![b'x'; 700]).unwrap();
        let gz = tar.finish().unwrap();
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut raw).unwrap();
        assert_eq!(raw.len() % BLOCK, 0);
        // First header: name, size, a checksum that adds up.
        assert_eq!(&raw[..13], b"manifest.json");
        assert_eq!(&raw[124..135], b"00000000002");
        let mut h = raw[..BLOCK].to_vec();
        let stored = u64::from_str_radix(std::str::from_utf8(&h[148..154]).unwrap(), 8).unwrap();
        h[148..156].copy_from_slice(b"        ");
        assert_eq!(stored, h.iter().map(|&b| u64::from(b)).sum::<u64>());
        assert_eq!(&raw[BLOCK..BLOCK + 2], b"{}");
        // Second entry after one padded block; 700 bytes take two blocks; two zero blocks end it.
        assert_eq!(&raw[2 * BLOCK..2 * BLOCK + 10], b"mail/1.eml");
        assert_eq!(raw.len(), BLOCK * (1 + 1 + 1 + 2 + 2));
        assert!(header(&"n".repeat(101), 0, 0).is_err());
    }
}
