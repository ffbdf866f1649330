package jsonnum

import (
	"encoding/json"
	"testing"
)

func TestEnd(t *testing.T) {
	tests := []struct {
		text    string
		start   int
		end     int
		problem Problem
	}{
		{"0", 0, 1, OK},
		{"-0", 0, 2, OK},
		{"123,", 0, 3, OK},
		{"x-12.5e+3]", 1, 9, OK},
		{"1E-07", 0, 5, OK},
		{"0123", 0, 1, OK}, // the number is "0"; the caller sees "123" follow
		{"1.", 0, 2, NoFraction},
		{"1.e5", 0, 2, NoFraction},
		{"1e", 0, 2, NoExponent},
		{"1e+", 0, 3, NoExponent},
		{"1e+x", 0, 3, NoExponent},
		{"-", 0, 1, NoInteger},
		{"-a", 0, 1, NoInteger},
		{".5", 0, 0, NoInteger},
		{"+1", 0, 0, NoInteger},
		{"", 0, 0, NoInteger},
	}
	for _, tt := range tests {
		end, problem := End([]byte(tt.text), tt.start)
		if end != tt.end || problem != tt.problem {
			t.Errorf("End(%q, %d) = %d, %d; want %d, %d", tt.text, tt.start, end, problem, tt.end, tt.problem)
		}
	}
}

// TestEndAgreesWithEncodingJSON: a text is one JSON number for encoding/json
// exactly when End reads all of it.
func TestEndAgreesWithEncodingJSON(t *testing.T) {
	texts := []string{"0", "-0", "1", "-1", "10", "1.5", "-1.50", "1e9", "1E+9", "1e-9", "0.0e0",
		"00", "01", "-", "1.", ".1", "1e", "1e+", "+1", "1x", "--1", "1.2.3", "1e2e3", "0x1", "Infinity"}
	for _, text := range texts {
		var v json.Number
		valid := json.Unmarshal([]byte(text), &v) == nil
		end, problem := End([]byte(text), 0)
		if got := problem == OK && end == len(text); got != valid {
			t.Errorf("End(%q) = %d, %d: a whole number %v, encoding/json says %v", text, end, problem, got, valid)
		}
	}
}

// TestIntegerEnd holds IntegerEnd to End on every text of up to four
// bytes over the bytes of numbers (and one that is not): where it answers,
// End reads a plain integer ending at the same index; where it does not,
// the text does not start with one.
func TestIntegerEnd(t *testing.T) {
	const alphabet = "019.eE-+x"
	var texts []string
	var grow func(prefix string)
	grow = func(prefix string) {
		texts = append(texts, prefix)
		if len(prefix) < 4 {
			for _, c := range []byte(alphabet) {
				grow(prefix + string(c))
			}
		}
	}
	grow("")
	for _, text := range texts {
		data := []byte(text)
		for start := 0; start <= len(data); start++ {
			end, ok := IntegerEnd(data, start)
			wantEnd, problem := End(data, start)
			plain := problem == OK && data[start] != '0' && data[start] != '-'
			for _, c := range data[start:wantEnd] {
				plain = plain && isDigit(c)
			}
			switch {
			case ok != plain:
				t.Errorf("IntegerEnd(%q, %d) = %d, %v; End = %d, %v", text, start, end, ok, wantEnd, problem)
			case ok && end != wantEnd, !ok && end != start:
				t.Errorf("IntegerEnd(%q, %d) = %d, %v; want %d", text, start, end, ok, wantEnd)
			}
		}
	}
}
