//! An exact decimal for FHIRPath `Decimal`: `mantissa × 10^-scale`.
//!
//! Binary floats would make `0.1 + 0.2 = 0.3` false and lose the written precision that
//! `toString()`, `precision()` and the boundary functions need, so sums, differences, products
//! and comparisons are exact; division and the transcendental functions round.

use std::cmp::Ordering;
use std::fmt;

/// The most fractional digits kept after a division (the spec asks for at least 8).
const DIVISION_SCALE: u32 = 16;
/// Above this scale results are rounded, to stay far from `i128` overflow.
const MAX_SCALE: u32 = 28;

/// A decimal number with its written scale (`1.50` has scale 2).
#[derive(Debug, Clone, Copy)]
pub struct Decimal {
    mantissa: i128,
    scale: u32,
}

impl Decimal {
    /// The decimal of an integer.
    pub fn from_i64(value: i64) -> Decimal {
        Decimal {
            mantissa: i128::from(value),
            scale: 0,
        }
    }

    /// Parses `-12.345`, `1e3` style text (JSON numbers may use an exponent).
    pub fn parse(text: &str) -> Option<Decimal> {
        let text = text.trim();
        let (number, exponent) = match text.find(['e', 'E']) {
            Some(at) => (&text[..at], text[at + 1..].parse::<i32>().ok()?),
            None => (text, 0),
        };
        let (negative, digits) = match number.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, number.strip_prefix('+').unwrap_or(number)),
        };
        let (int_part, frac_part) = match digits.split_once('.') {
            Some((i, f)) => (i, f),
            None => (digits, ""),
        };
        if int_part.is_empty() || !int_part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if digits.contains('.') && frac_part.is_empty() {
            return None;
        }
        if !frac_part.bytes().all(|b| b.is_ascii_digit()) || int_part.len() + frac_part.len() > 36 {
            return None;
        }
        let mut mantissa: i128 = format!("{int_part}{frac_part}").parse().ok()?;
        let mut scale = i64::try_from(frac_part.len()).ok()? - i64::from(exponent);
        while scale < 0 {
            mantissa = mantissa.checked_mul(10)?;
            scale += 1;
        }
        if negative {
            mantissa = -mantissa;
        }
        let mut value = Decimal {
            mantissa,
            scale: u32::try_from(scale).ok()?,
        };
        if value.scale > MAX_SCALE {
            value = value.round(MAX_SCALE);
        }
        Some(value)
    }

    /// The nearest decimal of a float (for the results of `sqrt`, `ln`, `power` …).
    pub fn from_f64(value: f64) -> Option<Decimal> {
        if !value.is_finite() {
            return None;
        }
        // `{}` prints the shortest text that reads back as the same float.
        Decimal::parse(&format!("{value}"))
    }

    /// The value as a float (for the transcendental functions).
    pub fn to_f64(self) -> f64 {
        self.to_string().parse().unwrap_or(f64::NAN)
    }

    /// The number of digits after the point as written.
    pub fn scale(self) -> u32 {
        self.scale
    }

    /// `true` when the value is zero.
    pub fn is_zero(self) -> bool {
        self.mantissa == 0
    }

    /// `true` when the value is below zero.
    pub fn is_negative(self) -> bool {
        self.mantissa < 0
    }

    /// The integer value when there is no fractional part (`2.0` → 2).
    pub fn to_integer(self) -> Option<i64> {
        let p = pow10(self.scale)?;
        if self.mantissa % p != 0 {
            return None;
        }
        i64::try_from(self.mantissa / p).ok()
    }

    fn rescale(self, scale: u32) -> Option<i128> {
        self.mantissa
            .checked_mul(pow10(scale.checked_sub(self.scale)?)?)
    }

    fn aligned(self, other: Decimal) -> Option<(i128, i128, u32)> {
        let scale = self.scale.max(other.scale);
        Some((self.rescale(scale)?, other.rescale(scale)?, scale))
    }

    /// Exact sum.
    pub fn plus(self, other: Decimal) -> Option<Decimal> {
        let (a, b, scale) = self.aligned(other)?;
        Some(Decimal {
            mantissa: a.checked_add(b)?,
            scale,
        })
    }

    /// Exact difference.
    pub fn minus(self, other: Decimal) -> Option<Decimal> {
        self.plus(other.negate())
    }

    /// Exact product (rounded when the scale gets very large).
    pub fn times(self, other: Decimal) -> Option<Decimal> {
        let value = Decimal {
            mantissa: self.mantissa.checked_mul(other.mantissa)?,
            scale: self.scale + other.scale,
        };
        Some(if value.scale > MAX_SCALE {
            value.round(MAX_SCALE)
        } else {
            value
        })
    }

    /// Quotient rounded to [`DIVISION_SCALE`] digits, trailing zeros removed; `None` for a zero
    /// divisor.
    pub fn divide(self, other: Decimal) -> Option<Decimal> {
        if other.mantissa == 0 {
            return None;
        }
        // (a / 10^sa) / (b / 10^sb) = (a * 10^(sb + D + 1) / b) / 10^(sa + D + 1)
        let numerator = self
            .mantissa
            .checked_mul(pow10(other.scale + DIVISION_SCALE + 1)?)?;
        let quotient = numerator / other.mantissa;
        let value = Decimal {
            mantissa: quotient,
            scale: self.scale + DIVISION_SCALE + 1,
        };
        Some(value.round(DIVISION_SCALE).normalised())
    }

    /// Truncated division (`div`): the integer part of the quotient.
    pub fn div_trunc(self, other: Decimal) -> Option<Decimal> {
        let (a, b, _) = self.aligned(other)?;
        if b == 0 {
            return None;
        }
        Some(Decimal {
            mantissa: a / b,
            scale: 0,
        })
    }

    /// The remainder of the truncated division (`mod`).
    pub fn remainder(self, other: Decimal) -> Option<Decimal> {
        let (a, b, scale) = self.aligned(other)?;
        if b == 0 {
            return None;
        }
        Some(Decimal {
            mantissa: a % b,
            scale,
        })
    }

    /// The negated value.
    pub fn negate(self) -> Decimal {
        Decimal {
            mantissa: -self.mantissa,
            scale: self.scale,
        }
    }

    /// The absolute value.
    pub fn abs(self) -> Decimal {
        Decimal {
            mantissa: self.mantissa.abs(),
            scale: self.scale,
        }
    }

    /// Rounded half away from zero to `digits` fractional digits.
    pub fn round(self, digits: u32) -> Decimal {
        if digits >= self.scale {
            return self;
        }
        let p = pow10(self.scale - digits).unwrap_or(i128::MAX);
        let half = p / 2;
        let q = self.mantissa / p;
        let r = self.mantissa % p;
        let q = if r.abs() >= half && half > 0 {
            q + self.mantissa.signum()
        } else {
            q
        };
        Decimal {
            mantissa: q,
            scale: digits,
        }
    }

    /// Rounded towards negative infinity to an integer.
    pub fn floor(self) -> Decimal {
        let p = pow10(self.scale).unwrap_or(i128::MAX);
        Decimal {
            mantissa: self.mantissa.div_euclid(p),
            scale: 0,
        }
    }

    /// Rounded towards positive infinity to an integer.
    pub fn ceiling(self) -> Decimal {
        self.negate().floor().negate()
    }

    /// The integer part (towards zero).
    pub fn truncate(self) -> Decimal {
        let p = pow10(self.scale).unwrap_or(i128::MAX);
        Decimal {
            mantissa: self.mantissa / p,
            scale: 0,
        }
    }

    /// Without trailing fractional zeros (`1.50` → `1.5`).
    pub fn normalised(self) -> Decimal {
        let mut value = self;
        while value.scale > 0 && value.mantissa % 10 == 0 {
            value.mantissa /= 10;
            value.scale -= 1;
        }
        value
    }

    /// The same value written with exactly `scale` fractional digits (adds zeros or rounds).
    pub fn with_scale(self, scale: u32) -> Decimal {
        if scale >= self.scale {
            match self.rescale(scale) {
                Some(mantissa) => Decimal { mantissa, scale },
                None => self,
            }
        } else {
            self.round(scale)
        }
    }
}

fn pow10(exponent: u32) -> Option<i128> {
    10i128.checked_pow(exponent)
}

impl PartialEq for Decimal {
    fn eq(&self, other: &Decimal) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Decimal {}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Decimal) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Decimal) -> Ordering {
        match self.aligned(*other) {
            Some((a, b, _)) => a.cmp(&b),
            None => self.to_f64().total_cmp(&other.to_f64()),
        }
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.mantissa.unsigned_abs().to_string();
        let sign = if self.mantissa < 0 { "-" } else { "" };
        let scale = self.scale as usize;
        if scale == 0 {
            return write!(f, "{sign}{digits}");
        }
        let padded = format!("{digits:0>width$}", width = scale + 1);
        let (int_part, frac_part) = padded.split_at(padded.len() - scale);
        write!(f, "{sign}{int_part}.{frac_part}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_arithmetic_is_exact() {
        let d = |s| Decimal::parse(s).unwrap();
        assert_eq!(d("0.1").plus(d("0.2")).unwrap(), d("0.3"));
        assert_eq!(d("1.50").to_string(), "1.50");
        assert_eq!(d("-0.05").to_string(), "-0.05");
        assert_eq!(
            d("1").divide(d("3")).unwrap().to_string(),
            "0.3333333333333333"
        );
        assert_eq!(d("1e2").to_string(), "100");
        assert_eq!(d("-1.5").round(0).to_string(), "-2");
        assert_eq!(d("-1.5").floor().to_string(), "-2");
        assert_eq!(d("5.5").remainder(d("0.7")).unwrap().to_string(), "0.6");
    }
}
