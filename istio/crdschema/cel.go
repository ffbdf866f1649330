package crdschema

import (
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/ext"
)

// ruleCache compiles each CEL rule once.
type ruleCache struct {
	mu    sync.Mutex
	env   *cel.Env
	progs map[string]cel.Program
	err   error
}

func newRuleCache() *ruleCache {
	env, err := cel.NewEnv(
		cel.Variable("self", cel.DynType),
		ext.Strings(),
		kubernetesURLs(),
	)
	return &ruleCache{env: env, progs: map[string]cel.Program{}, err: err}
}

func (c *ruleCache) eval(expr string, self any) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return false, c.err
	}
	prg, ok := c.progs[expr]
	if !ok {
		ast, iss := c.env.Compile(expr)
		if iss.Err() != nil {
			return false, iss.Err()
		}
		p, err := c.env.Program(ast)
		if err != nil {
			return false, err
		}
		c.progs[expr] = p
		prg = p
	}
	out, _, err := prg.Eval(map[string]any{"self": celValue(self)})
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("the rule gave %v, not a bool", out)
	}
	return b, nil
}

// celValue turns decoded JSON into values CEL's native adapter takes:
// integral numbers become int64 (Kubernetes schemas' integers are CEL
// ints), others float64.
func celValue(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = celValue(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = celValue(e)
		}
		return out
	default:
		return v
	}
}

// The URL functions of the Kubernetes CEL library
// (k8s.io/apiserver pkg/cel/library/urls.go): isURL(string) and url(string)
// parse with url.ParseRequestURI; the accessors read the parsed URL.
var urlCELType = cel.OpaqueType("kubernetes.URL")

type urlValue struct{ u *url.URL }

func (v urlValue) ConvertToNative(t reflect.Type) (any, error) {
	if reflect.TypeOf(v.u).AssignableTo(t) {
		return v.u, nil
	}
	return nil, fmt.Errorf("cannot convert a URL to %v", t)
}

func (v urlValue) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case types.TypeType:
		return urlCELType
	case types.StringType:
		return types.String(v.u.String())
	}
	return types.NewErr("cannot convert a URL to %s", t.TypeName())
}

func (v urlValue) Equal(other ref.Val) ref.Val {
	o, ok := other.(urlValue)
	return types.Bool(ok && *o.u == *v.u)
}

func (v urlValue) Type() ref.Type { return urlCELType }

func (v urlValue) Value() any { return v.u }

func kubernetesURLs() cel.EnvOption {
	str := func(f func(*url.URL) string) func(ref.Val) ref.Val {
		return func(arg ref.Val) ref.Val {
			u, ok := arg.(urlValue)
			if !ok {
				return types.MaybeNoSuchOverloadErr(arg)
			}
			return types.String(f(u.u))
		}
	}
	accessor := func(name string, f func(*url.URL) string) cel.EnvOption {
		return cel.Function(name, cel.MemberOverload("url_"+name, []*cel.Type{urlCELType}, cel.StringType, cel.UnaryBinding(str(f))))
	}
	return cel.Lib(urlLib{opts: []cel.EnvOption{
		cel.Function("isURL", cel.Overload("is_url_string", []*cel.Type{cel.StringType}, cel.BoolType,
			cel.UnaryBinding(func(arg ref.Val) ref.Val {
				s, ok := arg.Value().(string)
				if !ok {
					return types.MaybeNoSuchOverloadErr(arg)
				}
				_, err := url.ParseRequestURI(s)
				return types.Bool(err == nil)
			}))),
		cel.Function("url", cel.Overload("string_to_url", []*cel.Type{cel.StringType}, urlCELType,
			cel.UnaryBinding(func(arg ref.Val) ref.Val {
				s, ok := arg.Value().(string)
				if !ok {
					return types.MaybeNoSuchOverloadErr(arg)
				}
				u, err := url.ParseRequestURI(s)
				if err != nil {
					return types.NewErr("URL parse error during conversion from string: %v", err)
				}
				return urlValue{u}
			}))),
		accessor("getScheme", func(u *url.URL) string { return u.Scheme }),
		accessor("getHost", func(u *url.URL) string { return u.Host }),
		accessor("getHostname", func(u *url.URL) string { return u.Hostname() }),
		accessor("getPort", func(u *url.URL) string { return u.Port() }),
		accessor("getEscapedPath", func(u *url.URL) string { return u.EscapedPath() }),
	}})
}

type urlLib struct{ opts []cel.EnvOption }

func (l urlLib) CompileOptions() []cel.EnvOption { return l.opts }

func (l urlLib) ProgramOptions() []cel.ProgramOption { return nil }
