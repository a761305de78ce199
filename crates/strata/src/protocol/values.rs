//! Values as the log writes them in text: exact decimals and the epoch constants of dates
//! (`protocol/PROTOCOL.md#partition-values`, `protocol/PROTOCOL.md#statistics`).
//!
//! Decimal text is read by one lexer ([`DecimalText`]) whichever its source (a partition value,
//! a statistic, a predicate literal), and converted exactly: nothing here rounds.

/// Days from 0001-01-01 (CE day 1) to 1970-01-01.
pub(crate) const EPOCH_DAYS_FROM_CE: i32 = 719_163;

/// The most digits a Delta decimal holds.
const MAX_DECIMAL_DIGITS: usize = 38;

/// Exact decimal text of `unscaled * 10^-scale`, e.g. `(150, 2)` -> `1.50`.
pub(crate) fn format_decimal(unscaled: i128, scale: i8) -> String {
    let digits = unscaled.unsigned_abs().to_string();
    let sign = if unscaled < 0 { "-" } else { "" };
    match usize::try_from(scale) {
        Ok(0) => format!("{sign}{digits}"),
        Ok(scale) if digits.len() > scale => {
            let (int, frac) = digits.split_at(digits.len() - scale);
            format!("{sign}{int}.{frac}")
        }
        Ok(scale) => format!("{sign}0.{}{digits}", "0".repeat(scale - digits.len())),
        Err(_) if unscaled == 0 => "0".to_string(),
        Err(_) => format!("{sign}{digits}{}", "0".repeat(scale.unsigned_abs().into())),
    }
}

/// Decimal text taken apart: `[+-]int[.frac][(e|E)[+-]exp]`, at least one digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DecimalText<'a> {
    negative: bool,
    int: &'a str,
    frac: &'a str,
    exponent: i32,
}

impl<'a> DecimalText<'a> {
    /// Lexes `text` (surrounding white space ignored); an exponent only when `exponent_allowed`.
    fn lex(text: &'a str, exponent_allowed: bool) -> Option<DecimalText<'a>> {
        let text = text.trim();
        let (negative, body) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let (mantissa, exponent) = match body.find(['e', 'E']) {
            Some(i) if exponent_allowed => (&body[..i], body[i + 1..].parse().ok()?),
            Some(_) => return None,
            None => (body, 0),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let digits = int.bytes().chain(frac.bytes());
        if (int.is_empty() && frac.is_empty()) || !digits.clone().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(DecimalText {
            negative,
            int,
            frac,
            exponent,
        })
    }

    fn signed(&self, magnitude: i128) -> i128 {
        if self.negative { -magnitude } else { magnitude }
    }
}

/// Decimal text exactly as written, no exponent: `"-12.340"` → `(-12340, 3)` (the scale is the
/// number of fraction digits). `None` for anything else or more than 38 digits.
pub(crate) fn parse_decimal(text: &str) -> Option<(i128, i8)> {
    let d = DecimalText::lex(text, false)?;
    if d.int.len() + d.frac.len() > MAX_DECIMAL_DIGITS {
        return None;
    }
    let unscaled: i128 = format!("{}{}", d.int, d.frac).parse().ok()?;
    let scale = i8::try_from(d.frac.len()).ok()?;
    Some((d.signed(unscaled), scale))
}

/// Decimal text (`-12.30`, `1.5E+3`, `.5`) as the unscaled integer of a `decimal(precision,
/// scale)` value, refusing anything that would need rounding or more digits.
///
/// # Errors
/// Why the text is not such a value, as a phrase for a message.
pub(crate) fn parse_decimal_at(text: &str, precision: u8, scale: i8) -> Result<i128, String> {
    let d = DecimalText::lex(text, true).ok_or_else(|| "not a decimal number".to_string())?;
    let too_many = || format!("exceeds precision {precision}");
    // value = digits * 10^(exponent - frac.len()); unscaled = value * 10^scale.
    let frac_len = i64::try_from(d.frac.len()).map_err(|_| "too long")?;
    let shift = i64::from(d.exponent) - frac_len + i64::from(scale);
    let all_digits = format!("{}{}", d.int, d.frac);
    let digits = all_digits.trim_start_matches('0');
    let digits = if shift >= 0 {
        let zeros = usize::try_from(shift).map_err(|_| "too large")?;
        if digits.is_empty() {
            String::new()
        } else if zeros > MAX_DECIMAL_DIGITS {
            return Err(too_many());
        } else {
            format!("{digits}{}", "0".repeat(zeros))
        }
    } else {
        let drop = usize::try_from(-shift).map_err(|_| "too small")?;
        let keep = digits.len().saturating_sub(drop);
        if !digits[keep..].bytes().all(|b| b == b'0') {
            return Err(format!("more than {scale} fractional digits"));
        }
        digits[..keep].to_string()
    };
    if digits.len() > usize::from(precision).min(MAX_DECIMAL_DIGITS) {
        return Err(too_many());
    }
    let magnitude: i128 = if digits.is_empty() {
        0
    } else {
        digits.parse().map_err(|_| too_many())?
    };
    Ok(d.signed(magnitude))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_format_exactly() {
        assert_eq!(format_decimal(150, 2), "1.50");
        assert_eq!(format_decimal(5, 3), "0.005");
        assert_eq!(format_decimal(-123, -2), "-12300");
        assert_eq!(format_decimal(0, 2), "0.00");
    }

    #[test]
    fn decimal_text_parses_as_written_or_at_a_scale() {
        assert_eq!(parse_decimal("-.5"), Some((-5, 1)));
        assert_eq!(parse_decimal("-12.340"), Some((-12340, 3)));
        assert_eq!(parse_decimal("1.2.3"), None);
        assert_eq!(parse_decimal("1e3"), None);
        assert_eq!(parse_decimal(&"9".repeat(39)), None);
        assert_eq!(parse_decimal_at("1.5E+3", 10, 2), Ok(150_000));
        assert_eq!(parse_decimal_at("-12.30", 10, 2), Ok(-1230));
        assert_eq!(parse_decimal_at(".5", 3, 1), Ok(5));
        assert_eq!(parse_decimal_at("0e500", 3, 1), Ok(0));
        assert!(
            parse_decimal_at("1.234", 10, 2)
                .unwrap_err()
                .contains("fractional")
        );
        assert!(
            parse_decimal_at("12345", 4, 0)
                .unwrap_err()
                .contains("precision")
        );
        assert!(parse_decimal_at("abc", 4, 0).is_err());
    }
}
