//! SPICE numbers: `1.5k`, `10uF`, `1meg`, `2mil`, `1e-3s`, with ngspice's rules: the scale
//! suffix is one of f p n u m k g t, `meg` (1e6) or `mil` (25.4e-6), case-insensitive;
//! letters after it (units) are ignored, so `1Mohm` is 1e-3 and `10uF` is 1e-5.

use nom::branch::alt;
use nom::bytes::complete::{tag_no_case, take_while, take_while1};
use nom::character::complete::{char, one_of};
use nom::combinator::{opt, recognize};
use nom::{IResult, Parser};

/// Sign and mantissa, e.g. `-1.5`, `.5`, `3.`.
fn mantissa(i: &str) -> IResult<&str, &str> {
    let digits = || take_while1(|c: char| c.is_ascii_digit());
    recognize((
        opt(one_of("+-")),
        alt((
            recognize((digits(), opt((char('.'), opt(digits()))))),
            recognize((char('.'), digits())),
        )),
    ))
    .parse(i)
}

/// `e-3`: the decimal exponent (saturated; only digits after `e` make an exponent).
fn exponent(i: &str) -> IResult<&str, i64> {
    let (i, (_, sign, digits)) = (
        one_of("eE"),
        opt(one_of("+-")),
        take_while1(|c: char| c.is_ascii_digit()),
    )
        .parse(i)?;
    let magnitude = digits
        .parse::<i64>()
        .unwrap_or(i64::MAX / 4)
        .min(i64::MAX / 4);
    Ok((
        i,
        if sign == Some('-') {
            -magnitude
        } else {
            magnitude
        },
    ))
}

/// Scale suffix as a power of ten, or `mil` (25.4e-6, not a power of ten).
enum Scale {
    Pow10(i64),
    Mil,
}

fn scale(i: &str) -> IResult<&str, Scale> {
    let (i, s) = opt(alt((
        tag_no_case("meg").map(|_| Scale::Pow10(6)),
        tag_no_case("mil").map(|_| Scale::Mil),
        one_of("tT").map(|_| Scale::Pow10(12)),
        one_of("gG").map(|_| Scale::Pow10(9)),
        one_of("kK").map(|_| Scale::Pow10(3)),
        one_of("mM").map(|_| Scale::Pow10(-3)),
        one_of("uU").map(|_| Scale::Pow10(-6)),
        one_of("nN").map(|_| Scale::Pow10(-9)),
        one_of("pP").map(|_| Scale::Pow10(-12)),
        one_of("fF").map(|_| Scale::Pow10(-15)),
    )))
    .parse(i)?;
    Ok((i, s.unwrap_or(Scale::Pow10(0))))
}

/// A SPICE number inside an expression: mantissa, scale suffix, unit letters ignored.
/// The value is the correctly rounded decimal (`10u` is exactly the double nearest 1e-5).
pub fn spice_number(i: &str) -> IResult<&str, f64> {
    let (rest, mant) = mantissa(i)?;
    let (rest, exp) = opt(exponent).parse(rest)?;
    // Mantissa and exponent as written (`-2.5e-08`): read directly when no suffix scales it.
    let written = &i[..i.len() - rest.len()];
    let (rest, scale) = scale(rest)?;
    let (rest, _units) = take_while(|c: char| c.is_ascii_alphabetic() || c == '_').parse(rest)?;
    let exp = exp.unwrap_or(0);
    let (pow10, factor) = match scale {
        Scale::Pow10(p) => (exp + p, 1.0),
        Scale::Mil => (exp, 25.4e-6),
    };
    let value = if pow10 == 0 {
        mant.parse::<f64>()
    } else if matches!(scale, Scale::Pow10(0)) {
        // The same correctly rounded decimal as `decimal` builds, without formatting it.
        written.parse::<f64>()
    } else {
        decimal(mant, pow10)
    }
    .map_err(|_| nom::Err::Error(nom::error::Error::new(i, nom::error::ErrorKind::Float)))?;
    Ok((rest, value * factor))
}

/// `mant × 10^pow10`, correctly rounded, without allocating for ordinary lengths.
fn decimal(mant: &str, pow10: i64) -> Result<f64, std::num::ParseFloatError> {
    use std::io::Write;
    let mut buf = [0u8; 64];
    let mut cursor = std::io::Cursor::new(&mut buf[..]);
    if write!(cursor, "{mant}e{pow10}").is_ok() {
        let len = cursor.position() as usize;
        // Only ASCII was written.
        if let Ok(text) = std::str::from_utf8(&buf[..len]) {
            return text.parse();
        }
    }
    format!("{mant}e{pow10}").parse()
}

/// A whole token as a number, the way ngspice reads element values: after the number and
/// its suffix, trailing letters and digits are ignored (`10u5` is 1e-5). `None` if the token
/// does not start like a number or has other characters after it (`1.2.3`, `5k-2`).
pub fn parse_value_token(token: &str) -> Option<f64> {
    let (rest, v) = spice_number(token).ok()?;
    if rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && v.is_finite() {
        Some(v)
    } else {
        None
    }
}

/// True if the token starts like a number (digit, or sign/dot followed by a digit).
pub fn looks_numeric(token: &str) -> bool {
    let mut chars = token.chars();
    match chars.next() {
        Some(c) if c.is_ascii_digit() => true,
        Some('+' | '-' | '.') => {
            let next = chars.next();
            next.is_some_and(|c| c.is_ascii_digit())
                || (next == Some('.') && chars.next().is_some_and(|c| c.is_ascii_digit()))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> f64 {
        parse_value_token(s).unwrap_or_else(|| panic!("{s} did not parse"))
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs().max(1e-300)
    }

    #[test]
    fn suffixes_as_ngspice_reads_them() {
        // Each pair checked against ngspice 39 (`show r…` on resistors with these values).
        let cases = [
            ("1k", 1e3),
            ("1meg", 1e6),
            ("1megohm", 1e6),
            ("1Mohm", 1e-3),
            ("2mil", 50.8e-6),
            ("10u5", 1e-5),
            ("1a", 1.0),
            ("10uF", 1e-5),
            ("1kohm", 1e3),
            ("5V", 5.0),
            ("1e-3s", 1e-3),
            ("1F", 1e-15),
            ("1f", 1e-15),
            ("3T", 3e12),
            ("2g", 2e9),
            (".5", 0.5),
            ("-.5n", -0.5e-9),
            ("3.", 3.0),
            ("1e3k", 1e6),
            ("2e", 2.0),
            ("+4p", 4e-12),
        ];
        for (s, want) in cases {
            assert!(close(v(s), want), "{s}: got {} want {want}", v(s));
        }
    }

    #[test]
    fn exponent_read_as_written_equals_rebuilt_decimal() {
        // The fast path (the text as written) against the general one (mantissa and
        // power of ten rebuilt), bit for bit.
        for s in [
            "3.59847823e-08",
            "-2.46732177E-06",
            "+1.5e+05",
            "3.e5",
            ".5e-3",
            "7e0",
            "1e-0005",
            "123456789012345678901234567890e-30",
            "2.2250738585072011e-308",
            "4.9e-324",
            "1.7976931348623157e308",
            "1e-400",
        ] {
            let (_, fast) = spice_number(s).unwrap();
            let (rest, mant) = mantissa(s).unwrap();
            let (_, exp) = exponent(rest).unwrap();
            let slow = decimal(mant, exp).unwrap();
            assert_eq!(fast.to_bits(), slow.to_bits(), "{s}");
        }
    }

    #[test]
    fn garbage_is_rejected() {
        for s in ["abc", "1.2.3", "5k-2", "", "-", ".", "e5", "1e999"] {
            assert_eq!(parse_value_token(s), None, "{s}");
        }
    }
}
