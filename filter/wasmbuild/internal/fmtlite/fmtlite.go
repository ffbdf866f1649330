// Package fmtlite is the fmt package of the Wasm module: the build
// (filter/wasmbuild) writes this file, with its package clause changed to
// "package fmt", over the Go toolchain's fmt through the -overlay it builds
// with. Go's fmt formats any value through reflection and costs the module
// about 280 KB (fmt, internal/fmtsort, most of reflect, time formatting and
// float formatting reached through String methods); the module only formats
// error messages and log lines.
//
// It has fmt's whole API, so that every package of the build compiles, and
// gives fmt's output for plain verbs (no flags, width, precision or argument
// index) applied to what the module formats:
//
//   - %v, %s: strings, byte slices (%s), booleans (%v), integers and
//     floating-point numbers (%v), errors and Stringers;
//   - %d, %x, %X, %o, %O, %b, %c, %q, %U: integers (%q, %x and %X strings
//     too); %T: any operand's type;
//   - %t: booleans; %e, %E, %f, %F, %g, %G, %x, %X, %b: floating-point
//     numbers;
//   - %w in Errorf, which wraps the error as fmt.Errorf does;
//   - byte slices as strings for %s, %q, %x and %X;
//   - named types of these kinds, nil, and fmt's "%!verb(type=value)",
//     "%!verb(MISSING)", "%!(EXTRA ...)" and "%!verb(PANIC=...)" forms.
//
// Anything else (a flag, a width, a struct, a pointer, a slice) gives
// "%!verb(unsupported: type)" instead of fmt's text. Its tests hold it to
// fmt (fmtlite_test.go), and a test of the build
// (filter/wasmbuild/fmtcalls_test.go) checks every format string and
// argument type of the module's and the SDK's calls against it. Scanning
// is not in the module: the Scan functions return an error.
package fmtlite

import (
	"errors"
	"io"
	"os"
	"reflect"
	"strconv"
	"unicode/utf8"
)

// State is fmt.State.
type State interface {
	Write(b []byte) (n int, err error)
	Width() (wid int, ok bool)
	Precision() (prec int, ok bool)
	Flag(c int) bool
}

// Formatter is fmt.Formatter.
type Formatter interface {
	Format(f State, verb rune)
}

// Stringer is fmt.Stringer.
type Stringer interface {
	String() string
}

// GoStringer is fmt.GoStringer.
type GoStringer interface {
	GoString() string
}

// ScanState is fmt.ScanState.
type ScanState interface {
	ReadRune() (r rune, size int, err error)
	UnreadRune() error
	SkipSpace()
	Token(skipSpace bool, f func(rune) bool) (token []byte, err error)
	Width() (wid int, ok bool)
	Read(buf []byte) (n int, err error)
}

// Scanner is fmt.Scanner.
type Scanner interface {
	Scan(state ScanState, verb rune) error
}

// errNoScan is what every Scan function returns.
var errNoScan = errors.New("fmt: scanning is not built into this Wasm module")

func Scan(a ...any) (n int, err error)                               { return 0, errNoScan }
func Scanln(a ...any) (n int, err error)                             { return 0, errNoScan }
func Scanf(format string, a ...any) (n int, err error)               { return 0, errNoScan }
func Sscan(str string, a ...any) (n int, err error)                  { return 0, errNoScan }
func Sscanln(str string, a ...any) (n int, err error)                { return 0, errNoScan }
func Sscanf(str string, format string, a ...any) (n int, err error)  { return 0, errNoScan }
func Fscan(r io.Reader, a ...any) (n int, err error)                 { return 0, errNoScan }
func Fscanln(r io.Reader, a ...any) (n int, err error)               { return 0, errNoScan }
func Fscanf(r io.Reader, format string, a ...any) (n int, err error) { return 0, errNoScan }

// FormatString is fmt.FormatString: the directive that state and verb
// stand for.
func FormatString(state State, verb rune) string {
	b := []byte{'%'}
	for _, c := range " +-#0" {
		if state.Flag(int(c)) {
			b = append(b, byte(c))
		}
	}
	if w, ok := state.Width(); ok {
		b = strconv.AppendInt(b, int64(w), 10)
	}
	if p, ok := state.Precision(); ok {
		b = append(b, '.')
		b = strconv.AppendInt(b, int64(p), 10)
	}
	return string(utf8.AppendRune(b, verb))
}

func Sprintf(format string, a ...any) string {
	p := printer{}
	p.printf(format, a)
	return string(p.buf)
}

func Appendf(b []byte, format string, a ...any) []byte {
	p := printer{buf: b}
	p.printf(format, a)
	return p.buf
}

func Fprintf(w io.Writer, format string, a ...any) (n int, err error) {
	return w.Write(Appendf(nil, format, a...))
}

func Printf(format string, a ...any) (n int, err error) { return Fprintf(os.Stdout, format, a...) }

func Sprint(a ...any) string { return string(Append(nil, a...)) }

// Append adds spaces between operands when neither is a string, as
// fmt.Append does.
func Append(b []byte, a ...any) []byte {
	p := printer{buf: b}
	prevString := false
	for i, arg := range a {
		isString := arg != nil && reflect.TypeOf(arg).Kind() == reflect.String
		if i > 0 && !isString && !prevString {
			p.buf = append(p.buf, ' ')
		}
		p.arg(arg, 'v')
		prevString = isString
	}
	return p.buf
}

func Fprint(w io.Writer, a ...any) (n int, err error) { return w.Write(Append(nil, a...)) }

func Print(a ...any) (n int, err error) { return Fprint(os.Stdout, a...) }

func Sprintln(a ...any) string { return string(Appendln(nil, a...)) }

func Appendln(b []byte, a ...any) []byte {
	p := printer{buf: b}
	for i, arg := range a {
		if i > 0 {
			p.buf = append(p.buf, ' ')
		}
		p.arg(arg, 'v')
	}
	return append(p.buf, '\n')
}

func Fprintln(w io.Writer, a ...any) (n int, err error) { return w.Write(Appendln(nil, a...)) }

func Println(a ...any) (n int, err error) { return Fprintln(os.Stdout, a...) }

// Errorf is fmt.Errorf: with one %w it returns an error whose Unwrap
// returns that operand, with several one whose Unwrap returns them all.
func Errorf(format string, a ...any) error {
	p := printer{wrapErrs: true}
	p.printf(format, a)
	s := string(p.buf)
	switch len(p.wrapped) {
	case 0:
		return errors.New(s)
	case 1:
		w := &wrapError{msg: s}
		w.err, _ = a[p.wrapped[0]].(error)
		return w
	}
	var errs []error
	for i, n := range p.wrapped {
		if i > 0 && p.wrapped[i-1] == n {
			continue
		}
		if e, ok := a[n].(error); ok {
			errs = append(errs, e)
		}
	}
	return &wrapErrors{s, errs}
}

type wrapError struct {
	msg string
	err error
}

func (e *wrapError) Error() string { return e.msg }
func (e *wrapError) Unwrap() error { return e.err }

type wrapErrors struct {
	msg  string
	errs []error
}

func (e *wrapErrors) Error() string   { return e.msg }
func (e *wrapErrors) Unwrap() []error { return e.errs }

// printer formats into buf.
type printer struct {
	buf []byte
	// wrapErrs: %w is allowed (Errorf); wrapped are the indexes of its
	// operands.
	wrapErrs bool
	wrapped  []int
	// panicking is set while a panic of an operand's method is printed.
	panicking bool
	// erroring is set while an operand is printed inside "%!verb(...)":
	// as in fmt, its methods are not called then.
	erroring bool
}

func (p *printer) printf(format string, a []any) {
	n := 0
	for i := 0; i < len(format); {
		c := format[i]
		if c != '%' {
			j := i + 1
			for j < len(format) && format[j] != '%' {
				j++
			}
			p.buf = append(p.buf, format[i:j]...)
			i = j
			continue
		}
		i++
		if i >= len(format) {
			p.buf = append(p.buf, "%!(NOVERB)"...)
			break
		}
		verb, size := utf8.DecodeRuneInString(format[i:])
		i += size
		switch {
		case verb == '%':
			p.buf = append(p.buf, '%')
		case isDirectiveExtra(verb):
			p.mark(verb)
			p.buf = append(p.buf, "(unsupported: flags, width, precision or index)"...)
		case n >= len(a):
			p.mark(verb)
			p.buf = append(p.buf, "(MISSING)"...)
		default:
			if verb == 'w' {
				p.wrapped = append(p.wrapped, n)
			}
			p.arg(a[n], verb)
			n++
		}
	}
	if n < len(a) {
		p.buf = append(p.buf, "%!(EXTRA "...)
		for i, arg := range a[n:] {
			if i > 0 {
				p.buf = append(p.buf, ", "...)
			}
			if arg == nil {
				p.buf = append(p.buf, "<nil>"...)
				continue
			}
			p.buf = append(p.buf, reflect.TypeOf(arg).String()...)
			p.buf = append(p.buf, '=')
			p.arg(arg, 'v')
		}
		p.buf = append(p.buf, ')')
	}
}

// isDirectiveExtra reports whether c starts a flag, a width, a precision
// or an argument index, which this package does not format.
func isDirectiveExtra(c rune) bool {
	switch c {
	case '+', '-', '#', ' ', '0', '.', '*', '[':
		return true
	}
	return '1' <= c && c <= '9'
}

// arg formats one operand for verb.
func (p *printer) arg(arg any, verb rune) {
	if verb == 'T' {
		if arg == nil {
			p.buf = append(p.buf, "<nil>"...)
		} else {
			p.buf = append(p.buf, reflect.TypeOf(arg).String()...)
		}
		return
	}
	if arg == nil {
		if verb == 'v' {
			p.buf = append(p.buf, "<nil>"...)
		} else {
			p.bad(nil, verb)
		}
		return
	}
	if verb == 'w' {
		if _, ok := arg.(error); !ok || !p.wrapErrs {
			p.bad(arg, verb)
			return
		}
		verb = 'v'
	}
	if !p.erroring && p.methods(arg, verb) {
		return
	}
	switch v := arg.(type) {
	case string:
		p.str(v, verb, arg)
	case []byte:
		if verb == 's' || verb == 'q' || verb == 'x' || verb == 'X' {
			p.str(string(v), verb, arg)
			return
		}
		p.unsupported(reflect.ValueOf(arg), verb)
	case bool:
		p.boolean(v, verb, arg)
	case int:
		p.integer(int64(v), verb, arg)
	case int64:
		p.integer(v, verb, arg)
	case int32:
		p.integer(int64(v), verb, arg)
	case uint8:
		p.unsigned(uint64(v), verb, arg)
	case uint32:
		p.unsigned(uint64(v), verb, arg)
	case uint64:
		p.unsigned(v, verb, arg)
	case float64:
		p.float(v, 64, verb, arg)
	default:
		p.value(reflect.ValueOf(arg), verb, arg)
	}
}

// methods formats arg through its Format, Error or String method, as fmt
// does for these verbs; it reports whether it did.
func (p *printer) methods(arg any, verb rune) (handled bool) {
	if f, ok := arg.(Formatter); ok {
		handled = true
		defer p.catchPanic(arg, verb, "Format")
		f.Format(&state{p}, verb)
		return
	}
	switch verb {
	case 'v', 's', 'x', 'X', 'q':
	default:
		return false
	}
	switch v := arg.(type) {
	case error:
		handled = true
		defer p.catchPanic(arg, verb, "Error")
		p.str(v.Error(), verb, arg)
	case Stringer:
		handled = true
		defer p.catchPanic(arg, verb, "String")
		p.str(v.String(), verb, arg)
	}
	return handled
}

// catchPanic prints a panic of arg's method as fmt does: "<nil>" for a
// nil pointer, "%!verb(PANIC=method method: value)" otherwise.
func (p *printer) catchPanic(arg any, verb rune, method string) {
	err := recover()
	if err == nil {
		return
	}
	if v := reflect.ValueOf(arg); v.Kind() == reflect.Pointer && v.IsNil() {
		p.buf = append(p.buf, "<nil>"...)
		return
	}
	if p.panicking {
		panic(err)
	}
	p.mark(verb)
	p.buf = append(p.buf, "(PANIC="...)
	p.buf = append(p.buf, method...)
	p.buf = append(p.buf, " method: "...)
	p.panicking = true
	p.arg(err, 'v')
	p.panicking = false
	p.buf = append(p.buf, ')')
}

// value formats the named types of the kinds arg handles, and reports
// the rest as unsupported.
func (p *printer) value(v reflect.Value, verb rune, arg any) {
	switch v.Kind() {
	case reflect.String:
		p.str(v.String(), verb, arg)
	case reflect.Bool:
		p.boolean(v.Bool(), verb, arg)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		p.integer(v.Int(), verb, arg)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		p.unsigned(v.Uint(), verb, arg)
	case reflect.Float32:
		p.float(v.Float(), 32, verb, arg)
	case reflect.Float64:
		p.float(v.Float(), 64, verb, arg)
	default:
		p.unsupported(v, verb)
	}
}

// mark writes "%!verb", with which fmt starts what it writes for a
// directive it cannot apply.
func (p *printer) mark(verb rune) {
	p.buf = append(p.buf, "%!"...)
	p.buf = utf8.AppendRune(p.buf, verb)
}

// unsupported writes "%!verb(unsupported: type)".
func (p *printer) unsupported(v reflect.Value, verb rune) {
	p.mark(verb)
	p.buf = append(p.buf, "(unsupported: "...)
	p.buf = append(p.buf, v.Type().String()...)
	p.buf = append(p.buf, ')')
}

func (p *printer) str(s string, verb rune, arg any) {
	switch verb {
	case 'v', 's':
		p.buf = append(p.buf, s...)
	case 'q':
		p.buf = strconv.AppendQuote(p.buf, s)
	case 'x', 'X':
		digits := "0123456789abcdef"
		if verb == 'X' {
			digits = "0123456789ABCDEF"
		}
		for i := 0; i < len(s); i++ {
			p.buf = append(p.buf, digits[s[i]>>4], digits[s[i]&0xf])
		}
	default:
		p.bad(arg, verb)
	}
}

func (p *printer) boolean(b bool, verb rune, arg any) {
	if verb != 't' && verb != 'v' {
		p.bad(arg, verb)
		return
	}
	p.buf = strconv.AppendBool(p.buf, b)
}

// integer formats a signed integer.
func (p *printer) integer(n int64, verb rune, arg any) {
	if n >= 0 || verb == 'c' || verb == 'q' || verb == 'U' {
		p.unsigned(uint64(n), verb, arg)
		return
	}
	if base := digitsBase(verb); base == 0 {
		p.bad(arg, verb)
		return
	}
	p.buf = append(p.buf, '-')
	p.digits(uint64(-n), verb, arg)
}

func (p *printer) unsigned(n uint64, verb rune, arg any) {
	switch verb {
	case 'c':
		p.buf = utf8.AppendRune(p.buf, runeOf(n))
	case 'q':
		p.buf = strconv.AppendQuoteRune(p.buf, runeOf(n))
	case 'U':
		p.buf = append(p.buf, "U+"...)
		for width := len(strconv.FormatUint(n, 16)); width < 4; width++ {
			p.buf = append(p.buf, '0')
		}
		p.digits(n, 'X', arg)
	default:
		p.digits(n, verb, arg)
	}
}

// runeOf is the rune %c and %q print for n (U+FFFD when it is none).
func runeOf(n uint64) rune {
	if n > utf8.MaxRune {
		return utf8.RuneError
	}
	return rune(n)
}

// digitsBase is the base verb writes integers in, 0 if it writes none.
func digitsBase(verb rune) int {
	switch verb {
	case 'v', 'd':
		return 10
	case 'x', 'X':
		return 16
	case 'o', 'O':
		return 8
	case 'b':
		return 2
	}
	return 0
}

func (p *printer) digits(n uint64, verb rune, arg any) {
	base := digitsBase(verb)
	if base == 0 {
		p.bad(arg, verb)
		return
	}
	if verb == 'O' {
		p.buf = append(p.buf, "0o"...)
	}
	start := len(p.buf)
	p.buf = strconv.AppendUint(p.buf, n, base)
	if verb == 'X' {
		for i := start; i < len(p.buf); i++ {
			if 'a' <= p.buf[i] && p.buf[i] <= 'f' {
				p.buf[i] -= 'a' - 'A'
			}
		}
	}
}

func (p *printer) float(f float64, bits int, verb rune, arg any) {
	prec := -1
	switch verb {
	case 'v':
		verb = 'g'
	case 'F':
		verb, prec = 'f', 6
	case 'e', 'E', 'f':
		prec = 6
	case 'g', 'G', 'x', 'X', 'b':
	default:
		p.bad(arg, verb)
		return
	}
	p.buf = strconv.AppendFloat(p.buf, f, byte(verb), prec, bits)
}

// bad writes fmt's "%!verb(type=value)" for an operand the verb does not
// apply to.
func (p *printer) bad(arg any, verb rune) {
	p.mark(verb)
	p.buf = append(p.buf, '(')
	if arg == nil {
		p.buf = append(p.buf, "<nil>"...)
	} else {
		p.buf = append(p.buf, reflect.TypeOf(arg).String()...)
		p.buf = append(p.buf, '=')
		p.erroring = true
		p.arg(arg, 'v')
		p.erroring = false
	}
	p.buf = append(p.buf, ')')
}

// state is the State a Formatter writes to: no flags, width or precision.
type state struct{ p *printer }

func (s *state) Write(b []byte) (int, error) {
	s.p.buf = append(s.p.buf, b...)
	return len(b), nil
}
func (s *state) Width() (int, bool)     { return 0, false }
func (s *state) Precision() (int, bool) { return 0, false }
func (s *state) Flag(int) bool          { return false }
