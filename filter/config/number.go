package config

import "math"

// integerStatus is the outcome of reading a JSON number as an integer.
type integerStatus uint8

const (
	integerOK integerStatus = iota
	// integerFractional: the number has a non-zero fractional part.
	integerFractional
	// integerTooLarge: the number is an integer outside int64.
	integerTooLarge
	// integerMalformed: the text is not a JSON number.
	integerMalformed
)

// parseInteger reads the JSON number text (RFC 8259, section 6) as an
// exact integer. A number with an exponent or zero fraction digits is an
// integer when its value is ("1e3" is 1000, "100.0" is 100): some tools
// that write configurations (Istio turns pluginConfig into a
// google.protobuf.Struct, whose numbers are doubles) may write integers
// that way. No floating point is involved, so "1.0000000000000000001" is
// fractional, not 1.
func parseInteger(text string) (int64, integerStatus) {
	i := 0
	negative := false
	if i < len(text) && text[i] == '-' {
		negative = true
		i++
	}
	intStart := i
	for i < len(text) && isDigit(text[i]) {
		i++
	}
	intDigits := text[intStart:i]
	if len(intDigits) == 0 || len(intDigits) > 1 && intDigits[0] == '0' {
		return 0, integerMalformed
	}
	var fracDigits string
	if i < len(text) && text[i] == '.' {
		i++
		fracStart := i
		for i < len(text) && isDigit(text[i]) {
			i++
		}
		fracDigits = text[fracStart:i]
		if len(fracDigits) == 0 {
			return 0, integerMalformed
		}
	}
	exponent := 0
	if i < len(text) && (text[i] == 'e' || text[i] == 'E') {
		i++
		expNegative := false
		if i < len(text) && (text[i] == '+' || text[i] == '-') {
			expNegative = text[i] == '-'
			i++
		}
		expStart := i
		for i < len(text) && isDigit(text[i]) {
			// Saturate: anything beyond this is far outside int64 (or far
			// below 1) whatever the digits.
			if exponent < 100_000 {
				exponent = exponent*10 + int(text[i]-'0')
			}
			i++
		}
		if i == expStart {
			return 0, integerMalformed
		}
		if expNegative {
			exponent = -exponent
		}
	}
	if i != len(text) {
		return 0, integerMalformed
	}

	// The value is digits x 10^scale, with digits = intDigits fracDigits.
	digits := intDigits + fracDigits
	scale := exponent - len(fracDigits)
	// Drop leading zeros, then trailing zeros into the scale.
	for len(digits) > 0 && digits[0] == '0' {
		digits = digits[1:]
	}
	for len(digits) > 0 && digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
		scale++
	}
	if len(digits) == 0 {
		return 0, integerOK // zero, however written
	}
	if scale < 0 {
		// The last digit is non-zero and lies after the decimal point.
		return 0, integerFractional
	}
	if len(digits)+scale > 19 {
		return 0, integerTooLarge
	}
	// At most 19 decimal digits: accumulate in uint64 without overflow.
	var magnitude uint64
	for j := 0; j < len(digits); j++ {
		magnitude = magnitude*10 + uint64(digits[j]-'0')
	}
	for range scale {
		magnitude *= 10
	}
	switch {
	case !negative && magnitude <= math.MaxInt64:
		return int64(magnitude), integerOK
	case negative && magnitude <= math.MaxInt64+1:
		return int64(-magnitude), integerOK // -2^63 wraps to itself
	}
	return 0, integerTooLarge
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
