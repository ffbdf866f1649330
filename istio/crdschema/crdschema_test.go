package crdschema_test

import (
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/mcp-ratelimit/mcp-ratelimit-wasm/istio/crdschema"
)

// testCRDs is a small CRD exercising every kind of check the package does.
const testCRDs = `
# a comment-only document is skipped
---
apiVersion: v1
kind: ConfigMap
metadata: {name: not-a-crd}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        required: [spec]
        properties:
          spec:
            type: object
            required: [url]
            x-kubernetes-validations:
            - message: only one of selector or targetRefs can be set
              rule: '(has(self.selector) ? 1 : 0) + (has(self.targetRefs) ? 1 : 0) <= 1'
            properties:
              url:
                type: string
                minLength: 1
                x-kubernetes-validations:
                - message: url must have schema one of [http, https, oci]
                  rule: 'isURL(self) ? (url(self).getScheme() in ["http", "https", "oci"]) : false'
              name:
                type: string
                pattern: ^[a-z]+$
                maxLength: 5
              mode:
                type: string
                enum: [A, B]
              count:
                type: integer
                minimum: 1
              timeout:
                type: string
                x-kubernetes-validations:
                - rule: duration(self) >= duration('1ms')
              selector:
                type: object
                properties:
                  matchLabels:
                    type: object
                    additionalProperties: {type: string}
                    x-kubernetes-validations:
                    - message: wildcard not allowed in label key match
                      rule: self.all(key, !key.contains("*"))
              targetRefs:
                type: array
                maxItems: 2
                items:
                  type: object
                  required: [name]
                  properties:
                    name: {type: string}
                    kind: {type: string}
                x-kubernetes-list-type: map
                x-kubernetes-list-map-keys: [name]
              tags:
                type: array
                items: {type: string}
                x-kubernetes-list-type: set
              config:
                type: object
                x-kubernetes-preserve-unknown-fields: true
              transition:
                type: string
                x-kubernetes-validations:
                - rule: self == oldSelf
`

const validWidget = `
apiVersion: example.com/v1
kind: Widget
metadata:
  name: w1
  namespace: ns
  labels: {app: demo}
spec:
  url: oci://registry.example.com/x:v1
  name: abc
  mode: A
  count: 3
  timeout: 5s
  targetRefs:
  - {name: a, kind: Gateway}
  - {name: b}
  tags: [red, blue]
  config:
    anything: {goes: [1, 2]}
  transition: ignored
`

func load(t *testing.T) *crdschema.Set {
	t.Helper()
	set, err := crdschema.Load([]byte(testCRDs))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if kinds := set.Kinds(); len(kinds) != 1 || kinds[0] != (crdschema.GVK{Group: "example.com", Version: "v1", Kind: "Widget"}) {
		t.Fatalf("kinds = %v", kinds)
	}
	return set
}

func TestValidate(t *testing.T) {
	set := load(t)
	tests := []struct {
		name    string
		edit    func(string) string
		want    string // substring of the single expected violation; "" for none
		wantAny bool   // more than one violation is fine
	}{
		{name: "valid", edit: func(s string) string { return s }},
		{name: "unknown spec field", edit: func(s string) string { return strings.Replace(s, "  mode: A", "  mode: A\n  mdoe: B", 1) },
			want: "spec.mdoe: field not declared in schema"},
		{name: "unknown nested field", edit: func(s string) string { return strings.Replace(s, "{name: b}", "{name: b, knd: x}", 1) },
			want: "spec.targetRefs[1].knd: field not declared"},
		{name: "snake_case spelling", edit: func(s string) string { return strings.Replace(s, "targetRefs:", "target_refs:", 1) },
			want: "spec.target_refs: field not declared"},
		{name: "pattern", edit: func(s string) string { return strings.Replace(s, "name: abc", "name: Abc", 1) },
			want: "spec.name: "},
		{name: "max length", edit: func(s string) string { return strings.Replace(s, "name: abc", "name: abcdef", 1) },
			want: "spec.name: "},
		{name: "enum", edit: func(s string) string { return strings.Replace(s, "mode: A", "mode: C", 1) },
			want: "spec.mode: "},
		{name: "type", edit: func(s string) string { return strings.Replace(s, "count: 3", "count: three", 1) },
			want: "spec.count: "},
		{name: "minimum", edit: func(s string) string { return strings.Replace(s, "count: 3", "count: 0", 1) },
			want: "spec.count: "},
		{name: "required", edit: func(s string) string { return strings.Replace(s, "  url: oci://registry.example.com/x:v1\n", "", 1) },
			want: "spec: missing property 'url'", wantAny: true},
		{name: "max items", edit: func(s string) string { return strings.Replace(s, "  - {name: b}", "  - {name: b}\n  - {name: c}", 1) },
			want: "spec.targetRefs: "},
		{name: "list-type map duplicate key", edit: func(s string) string { return strings.Replace(s, "{name: b}", "{name: a}", 1) },
			want: "spec.targetRefs[1]: duplicate entry of list-type map"},
		{name: "list-type set duplicate", edit: func(s string) string { return strings.Replace(s, "[red, blue]", "[red, red]", 1) },
			want: "spec.tags[1]: duplicate entry of list-type set"},
		{name: "CEL rule across fields", edit: func(s string) string {
			return strings.Replace(s, "  tags:", "  selector: {matchLabels: {app: x}}\n  tags:", 1)
		},
			want: "spec: Invalid value: only one of selector or targetRefs can be set"},
		{name: "CEL rule on map keys", edit: func(s string) string {
			s = strings.Replace(s, "  targetRefs:\n  - {name: a, kind: Gateway}\n  - {name: b}\n", "", 1)
			return strings.Replace(s, "  tags:", "  selector: {matchLabels: {'a*': x}}\n  tags:", 1)
		}, want: "spec.selector.matchLabels: Invalid value: wildcard not allowed"},
		{name: "CEL URL library: scheme", edit: func(s string) string { return strings.Replace(s, "oci://registry", "ftp://registry", 1) },
			want: "spec.url: Invalid value: url must have schema"},
		{name: "CEL URL library: not a URL", edit: func(s string) string {
			return strings.Replace(s, "oci://registry.example.com/x:v1", "registry example", 1)
		},
			want: "spec.url: Invalid value: url must have schema"},
		{name: "CEL duration", edit: func(s string) string { return strings.Replace(s, "timeout: 5s", "timeout: 0s", 1) },
			want: "spec.timeout: Invalid value: failed rule"},
		{name: "metadata name", edit: func(s string) string { return strings.Replace(s, "name: w1", "name: W_1", 1) },
			want: "metadata.name: Invalid value"},
		{name: "metadata unknown field", edit: func(s string) string {
			return strings.Replace(s, "  namespace: ns", "  namespace: ns\n  nmespace: x", 1)
		},
			want: `metadata: json: unknown field "nmespace"`},
		{name: "metadata missing", edit: func(s string) string {
			return strings.Replace(s, "metadata:\n  name: w1\n  namespace: ns\n  labels: {app: demo}\n", "", 1)
		}, want: "metadata: Required value"},
		{name: "unknown top-level field", edit: func(s string) string { return s + "extra: 1\n" },
			want: "extra: field not declared"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj, err := yaml.YAMLToJSON([]byte(tt.edit(validWidget)))
			if err != nil {
				t.Fatal(err)
			}
			violations, err := set.Validate(obj)
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if tt.want == "" {
				if len(violations) != 0 {
					t.Fatalf("violations of a valid object: %q", violations)
				}
				return
			}
			if len(violations) == 0 || (!tt.wantAny && len(violations) != 1) {
				t.Fatalf("violations = %q, want exactly one containing %q", violations, tt.want)
			}
			found := false
			for _, v := range violations {
				found = found || strings.Contains(v, tt.want)
			}
			if !found {
				t.Fatalf("violations = %q, want one containing %q", violations, tt.want)
			}
		})
	}
}

func TestValidateRefusesUnknownKinds(t *testing.T) {
	set := load(t)
	for _, obj := range []string{`{"apiVersion":"example.com/v2","kind":"Widget"}`, `{"apiVersion":"v1","kind":"Pod"}`, `[1]`} {
		if _, err := set.Validate([]byte(obj)); err == nil {
			t.Errorf("Validate(%s) gave no error", obj)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	for name, data := range map[string]string{
		"no CRD":       "apiVersion: v1\nkind: ConfigMap\n",
		"no schema":    "kind: CustomResourceDefinition\nspec:\n  group: g\n  names: {kind: K}\n  versions: [{name: v1}]\n",
		"bad schema":   "kind: CustomResourceDefinition\nspec:\n  group: g\n  names: {kind: K}\n  versions: [{name: v1, schema: {openAPIV3Schema: {type: 7}}}]\n",
		"invalid YAML": "kind: [\n",
	} {
		if _, err := crdschema.Load([]byte(data)); err == nil {
			t.Errorf("%s: Load gave no error", name)
		}
	}
}

func TestSplitYAML(t *testing.T) {
	docs, err := crdschema.SplitYAML([]byte("# only a comment\n---\na: 1\n---\n\n---\nb: 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 2 {
		t.Fatalf("got %d documents %q, want 2", len(docs), docs)
	}
}
