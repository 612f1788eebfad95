//! What a person typed, before it is taken for a name: characters that cannot be seen or that
//! break a line, and addresses spelt the way browsers and resolvers accept them.
//!
//! These checks exist because every one of these inputs used to be checked as some *other* name:
//! `exa\u{200B}mple.com` as `example.com` (IDNA drops the zero-width space), `0x7f000001` as a
//! host name (it is 127.0.0.1 to `getaddrinfo` and to every browser).

use std::net::Ipv4Addr;

/// Characters shown before an echoed input is cut: enough to recognise it, short enough that a
/// 100 kB argument does not become a 100 kB message.
const ECHO_CHARS: usize = 64;

/// A character of the input that must not be in a name, and where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct HiddenChar {
    /// The character.
    pub(super) char: char,
    /// 1-based position in characters.
    pub(super) position: usize,
    /// A control character (line breaks, tabs, NUL, DEL, C1); otherwise an invisible one.
    pub(super) control: bool,
}

/// The first control or invisible character in `input`, if any.
///
/// Invisible means Unicode's `Default_Ignorable_Code_Point` (zero-width space and joiners, word
/// joiner, byte order mark, soft hyphen, bidirectional marks, variation selectors, ...) and
/// anything else the IDNA mapping (UTS #46 §5, status `ignored`) removes without a trace. Either
/// would make the name looked up differ from the name the person sees.
pub(super) fn first_hidden_char(input: &str) -> Option<HiddenChar> {
    input.chars().enumerate().find_map(|(index, c)| {
        let control = c.is_control();
        (control || is_invisible(c)).then_some(HiddenChar {
            char: c,
            position: index + 1,
            control,
        })
    })
}

fn is_invisible(c: char) -> bool {
    !c.is_ascii() && (is_default_ignorable(c) || idna_drops(c))
}

/// Unicode 15.1 `DerivedCoreProperties.txt`, property `Default_Ignorable_Code_Point`.
pub(crate) fn is_default_ignorable(c: char) -> bool {
    matches!(
        u32::from(c),
        0x00AD
            | 0x034F
            | 0x061C
            | 0x115F..=0x1160
            | 0x17B4..=0x17B5
            | 0x180B..=0x180F
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x206F
            | 0x3164
            | 0xFE00..=0xFE0F
            | 0xFEFF
            | 0xFFA0
            | 0xFFF0..=0xFFF8
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0000..=0xE0FFF
    )
}

/// Whether UTS #46 mapping deletes `c`: `a<c>b` converts to plain `ab`. Asked of the IDNA
/// implementation itself, so a character its tables drop is caught even if the list above
/// misses it.
fn idna_drops(c: char) -> bool {
    let mut probe = String::with_capacity(6);
    probe.push('a');
    probe.push(c);
    probe.push('b');
    idna::domain_to_ascii(&probe).is_ok_and(|ascii| ascii == "ab")
}

/// `U+200B (zero width space)`: the code point, and its name where people meet it.
pub(super) fn describe(c: char) -> String {
    let name = match u32::from(c) {
        0x00 => "null",
        0x09 => "tab",
        0x0A => "line feed",
        0x0D => "carriage return",
        0x1B => "escape",
        0x7F => "delete",
        0xAD => "soft hyphen",
        0x034F => "combining grapheme joiner",
        0x061C => "Arabic letter mark",
        0x180E => "Mongolian vowel separator",
        0x200B => "zero width space",
        0x200C => "zero width non-joiner",
        0x200D => "zero width joiner",
        0x200E => "left-to-right mark",
        0x200F => "right-to-left mark",
        0x202A..=0x202E | 0x2066..=0x2069 => "a bidirectional formatting character",
        0x2060 => "word joiner",
        0xFE00..=0xFE0F => "a variation selector",
        0xFEFF => "zero width no-break space, the byte order mark",
        _ if c.is_control() => "a control character",
        _ => "an invisible formatting character",
    };
    format!("U+{:04X} ({name})", u32::from(c))
}

/// Whether `ascii` (lowercase A-label text, without the root dot) is an IPv4 address to the
/// WHATWG URL host parser (§3.5 "ends in a number"): its last label is all decimal digits, or
/// `0x` followed by hex digits. `getaddrinfo` and browsers dial such names as addresses
/// (`127.1`, `2130706433`, `0x7f000001`, `0177.0.0.1` are all 127.0.0.1), and RFC 3696 §2 rules
/// out an all-numeric top-level domain, so no mail domain has that form.
pub(super) fn ends_in_a_number(ascii: &str) -> bool {
    let last = ascii.rsplit('.').next().unwrap_or(ascii);
    !last.is_empty() && (last.bytes().all(|b| b.is_ascii_digit()) || ipv4_number(last).is_some())
}

/// The address a name that [`ends_in_a_number`] stands for, by the WHATWG IPv4 parser (URL
/// standard §3.5): one to four parts, each decimal, octal (leading `0`) or hex (`0x`); the last
/// part fills the remaining bytes. `None` when the parser fails (`1.2.3.4.5`, `08`, `example.1`).
pub(super) fn legacy_ipv4(ascii: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = ascii.split('.').collect();
    let (last, leading) = parts.split_last()?;
    if leading.len() > 3 {
        return None;
    }
    let mut address: u64 = 0;
    for (index, part) in leading.iter().enumerate() {
        let byte = ipv4_number(part).filter(|n| *n <= 255)?;
        address |= byte << (8 * (3 - index));
    }
    let tail = ipv4_number(last)?;
    let tail_bytes = 4 - leading.len();
    if tail >= 1 << (8 * tail_bytes) {
        return None;
    }
    u32::try_from(address | tail).ok().map(Ipv4Addr::from)
}

/// One part of a legacy IPv4 address: `0x` hex (digits may be absent: `0x` is 0), `0` octal,
/// or decimal; `None` when it is none of these. A value past 32 bits is still a number (the
/// WHATWG parser fails on it later), so it saturates at `u64::MAX` for the caller to refuse.
fn ipv4_number(part: &str) -> Option<u64> {
    let (digits, radix) =
        if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
            (hex, 16)
        } else if part.len() > 1
            && let Some(octal) = part.strip_prefix('0')
        {
            (octal, 8)
        } else {
            (part, 10)
        };
    if digits.is_empty() {
        return (radix == 16).then_some(0);
    }
    if !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    Some(u64::from_str_radix(digits, radix).unwrap_or(u64::MAX))
}

/// `input` for a message: as typed when short, else its start and its length. Written only
/// when a message is: a name that passes costs nothing here.
#[derive(Clone, Copy)]
pub(super) struct Shown<'a>(pub(super) &'a str);

impl std::fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = self.0.chars().count();
        if count <= ECHO_CHARS {
            return write!(f, "`{}`", self.0);
        }
        let start: String = self.0.chars().take(ECHO_CHARS - 16).collect();
        write!(f, "`{start}…` ({count} characters)")
    }
}

#[cfg(test)]
mod tests;
