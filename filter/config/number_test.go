package config

import (
	"math"
	"testing"
)

func TestParseInteger(t *testing.T) {
	tests := []struct {
		text   string
		want   int64
		status integerStatus
	}{
		{"0", 0, integerOK},
		{"-0", 0, integerOK},
		{"7", 7, integerOK},
		{"-42", -42, integerOK},
		{"1e3", 1000, integerOK},
		{"1E+3", 1000, integerOK},
		{"100.000", 100, integerOK},
		{"2.5e1", 25, integerOK},
		{"12345e-2", 0, integerFractional},
		{"12300e-2", 123, integerOK},
		{"0.0", 0, integerOK},
		{"0e999999999999999999", 0, integerOK},
		{"10000000000e-10", 1, integerOK},
		{"9223372036854775807", math.MaxInt64, integerOK},
		{"-9223372036854775808", math.MinInt64, integerOK},
		{"9223372036854775808", 0, integerTooLarge},
		{"-9223372036854775809", 0, integerTooLarge},
		{"1e19", 0, integerTooLarge},
		{"9.223372036854775807e18", math.MaxInt64, integerOK},
		{"1e400", 0, integerTooLarge},
		{"1e999999999999999999999", 0, integerTooLarge},
		{"1.5", 0, integerFractional},
		{"1.0000000000000000001", 0, integerFractional},
		{"1e-1", 0, integerFractional},
		{"1e-999999999999", 0, integerFractional},
		{"", 0, integerMalformed},
		{"-", 0, integerMalformed},
		{"01", 0, integerMalformed},
		{"1.", 0, integerMalformed},
		{".5", 0, integerMalformed},
		{"1e", 0, integerMalformed},
		{"1e+", 0, integerMalformed},
		{"+1", 0, integerMalformed},
		{"1x", 0, integerMalformed},
		{"NaN", 0, integerMalformed},
	}
	for _, tt := range tests {
		got, status := parseInteger(tt.text)
		if status != tt.status || got != tt.want {
			t.Errorf("parseInteger(%q) = %d, %d; want %d, %d", tt.text, got, status, tt.want, tt.status)
		}
	}
}

func TestHasLoneSurrogate(t *testing.T) {
	tests := []struct {
		raw  string
		want bool
	}{
		{`""`, false},
		{`"abc"`, false},
		{`"\ud83d\ude00"`, false},
		{`"\\ud800"`, false}, // an escaped backslash, then text
		{`"\\\ud800"`, true},
		{`"\ud800"`, true},
		{`"\udc00"`, true},
		{`"\ud800\u0041"`, true},
		{`"\ud800\n"`, true},
		{`"x\uDBFF"`, true},
		{`"\u00e9\n\t\"\/"`, false},
	}
	for _, tt := range tests {
		if got := hasLoneSurrogate(tt.raw); got != tt.want {
			t.Errorf("hasLoneSurrogate(%s) = %v, want %v", tt.raw, got, tt.want)
		}
	}
}
