// Package jsonnum scans a JSON number (RFC 8259, section 6) in place. It is
// the one number grammar of the filter: the JSON-RPC reader (filter/jsonrpc)
// validates numbers with it, and the configuration's syntax checker
// (filter/config) reports where and why one is malformed.
package jsonnum

// Problem is why the text at a position is not a JSON number.
type Problem uint8

const (
	// OK: a number.
	OK Problem = iota
	// NoInteger: no integer part ('-' alone, or neither a digit nor '-').
	NoInteger
	// NoFraction: a decimal point without a digit after it.
	NoFraction
	// NoExponent: an exponent without a digit.
	NoExponent
)

// End returns the index just past the number starting at data[start]. When
// there is none, it returns the index where a digit was expected and why.
// What follows the number is left to the caller.
func End(data []byte, start int) (int, Problem) {
	i := start
	if i < len(data) && data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && '1' <= data[i] && data[i] <= '9':
		i = digitsEnd(data, i+1)
	default:
		return i, NoInteger
	}
	if i < len(data) && data[i] == '.' {
		i++
		if i == len(data) || !isDigit(data[i]) {
			return i, NoFraction
		}
		i = digitsEnd(data, i)
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i == len(data) || !isDigit(data[i]) {
			return i, NoExponent
		}
		i = digitsEnd(data, i)
	}
	return i, OK
}

// IntegerEnd returns the index just past the number starting at
// data[start], as End does, when that number is a plain integer (a digit
// 1 to 9, more digits, no fraction or exponent: most JSON-RPC ids); for
// any other text it returns start and false, and End reads it. It is
// small enough to inline: in a Wasm VM, End is a call that costs more
// than the digits of an id.
func IntegerEnd(data []byte, start int) (int, bool) {
	if start < len(data) && '1' <= data[start] && data[start] <= '9' {
		i := digitsEnd(data, start+1)
		// Neither a fraction nor an exponent (e or E) follows.
		if i == len(data) || data[i] != '.' && data[i]|0x20 != 'e' {
			return i, true
		}
	}
	return start, false
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// digitsEnd returns the index of the first byte at or after i that is not
// a decimal digit.
func digitsEnd(data []byte, i int) int {
	for i < len(data) && isDigit(data[i]) {
		i++
	}
	return i
}
