use std::io::Read as _;

use super::*;

fn gunzip(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

#[test]
fn one_compressor_gzips_many_inputs_of_any_size() {
    let mut gzipper = Gzipper::new();
    // Incompressible bytes larger than any first reservation, then small and empty inputs:
    // each comes back whole, so the state is reset between them.
    let mut state: u32 = 1;
    let noise: Vec<u8> = (0..300_000)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            state.to_le_bytes()[3]
        })
        .collect();
    for input in [
        noise.as_slice(),
        b"{\"organization-name\":\"example\"}".as_slice(),
        b"".as_slice(),
        noise.get(..1000).unwrap_or_default(),
    ] {
        let compressed = gzipper.gzip(input).expect("gzip");
        assert_eq!(gunzip(&compressed), input);
    }
}
