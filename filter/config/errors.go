package config

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tidwall/gjson"
)

// Error is an invalid configuration: which field, and what is wrong with
// it. Error() is one line, fit for one log line.
type Error struct {
	// Path is the field, e.g. "tools[1].perUser.refillPeriod", or "" when
	// the problem is with the document as a whole.
	Path string
	// Problem says what is wrong, with the bad value, e.g.
	// `must be a Go duration > 0, got "0s"`.
	Problem string
}

// Error returns "<path>: <problem>", or the problem alone without a path.
func (e *Error) Error() string {
	if e.Path == "" {
		return e.Problem
	}
	return e.Path + ": " + e.Problem
}

// errorf returns an *Error for path.
func errorf(path, format string, args ...any) *Error {
	return &Error{Path: path, Problem: fmt.Sprintf(format, args...)}
}

// maxShownBytes bounds how much of a bad value an error message shows.
const maxShownBytes = 64

// shown renders a JSON value for an error message, on one line: strings
// quoted (with escapes), numbers and literals as written, objects and
// arrays by kind; long values are cut.
func shown(v gjson.Result) string {
	switch v.Type {
	case gjson.String:
		return quoted(v.Str)
	case gjson.JSON:
		if v.IsArray() {
			if strings.TrimSpace(v.Raw) == "[]" {
				return "[]"
			}
			return "an array"
		}
		return "an object"
	}
	return cut(v.Raw)
}

// quoted renders s as a Go-quoted string, cut to maxShownBytes.
func quoted(s string) string {
	if len(s) > maxShownBytes {
		return strconv.Quote(cut(s))
	}
	return strconv.Quote(s)
}

// cut shortens s to at most maxShownBytes, on a UTF-8 boundary, marking
// the cut with "...".
func cut(s string) string {
	if len(s) <= maxShownBytes {
		return s
	}
	end := maxShownBytes
	for end > 0 && !utf8.RuneStart(s[end]) {
		end--
	}
	return s[:end] + "..."
}

// joinPath appends a member name to a field path. Names that are not
// plain identifiers are quoted, so the path stays unambiguous.
func joinPath(path, name string) string {
	plain := name != ""
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			plain = false
			break
		}
	}
	switch {
	case !plain:
		return path + "[" + quoted(name) + "]"
	case path == "":
		return name
	}
	return path + "." + name
}

// indexPath appends an array index to a field path.
func indexPath(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}
