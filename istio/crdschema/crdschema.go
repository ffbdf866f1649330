// Package crdschema validates Kubernetes objects against the
// CustomResourceDefinitions that define them, the way the API server does
// when the objects are applied, without an API server:
//
//   - metadata: strict decoding into metav1.ObjectMeta and apimachinery's
//     ValidateObjectMeta (names, labels, annotations);
//   - unknown fields: a field the structural schema does not declare is an
//     error, as with kubectl's default --validate=strict (the API server
//     would otherwise drop it silently: pruning);
//   - the OpenAPI v3 schema rules (type, enum, pattern, lengths, item
//     counts, required, ...), checked with a JSON Schema validator;
//   - list semantics: x-kubernetes-list-type set and map with their keys;
//   - x-kubernetes-validations: the CEL rules, with cel-go and the parts of
//     the Kubernetes CEL library these schemas use (isURL, url and its
//     accessors, from k8s.io/apiserver pkg/cel/library/urls.go).
//
// Transition rules (oldSelf) do not apply to a create and are skipped. What
// an admission webhook (such as Istio's validating webhook) checks is not
// covered.
package crdschema

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	k8syaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// GVK names a kind in one version of an API group.
type GVK struct {
	Group, Version, Kind string
}

func (g GVK) String() string { return g.Group + "/" + g.Version + ", Kind=" + g.Kind }

// Set holds the schemas of the versions of some CustomResourceDefinitions.
type Set struct {
	kinds map[GVK]*kindSchema
}

type kindSchema struct {
	namespaced bool
	raw        map[string]any     // the openAPIV3Schema, for the structural walk
	compiled   *jsonschema.Schema // the same, for the JSON Schema rules
	rules      *ruleCache
}

// crd is the part of a CustomResourceDefinition this package reads.
type crd struct {
	Kind string `json:"kind"`
	Spec struct {
		Group string `json:"group"`
		Names struct {
			Kind string `json:"kind"`
		} `json:"names"`
		Scope    string `json:"scope"`
		Versions []struct {
			Name   string `json:"name"`
			Schema struct {
				OpenAPIV3Schema json.RawMessage `json:"openAPIV3Schema"`
			} `json:"schema"`
		} `json:"versions"`
	} `json:"spec"`
}

// Load reads a multi-document YAML stream of CustomResourceDefinitions
// (other kinds are ignored) and compiles the schema of every version.
func Load(data []byte) (*Set, error) {
	set := &Set{kinds: map[GVK]*kindSchema{}}
	docs, err := SplitYAML(data)
	if err != nil {
		return nil, err
	}
	for _, doc := range docs {
		js, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("crdschema: %w", err)
		}
		var c crd
		if err := json.Unmarshal(js, &c); err != nil {
			return nil, fmt.Errorf("crdschema: %w", err)
		}
		if c.Kind != "CustomResourceDefinition" {
			continue
		}
		for _, v := range c.Spec.Versions {
			gvk := GVK{c.Spec.Group, v.Name, c.Spec.Names.Kind}
			ks, err := compileSchema(gvk, v.Schema.OpenAPIV3Schema)
			if err != nil {
				return nil, err
			}
			ks.namespaced = c.Spec.Scope == "Namespaced"
			set.kinds[gvk] = ks
		}
	}
	if len(set.kinds) == 0 {
		return nil, errors.New("crdschema: no CustomResourceDefinition with a schema found")
	}
	return set, nil
}

func compileSchema(gvk GVK, schemaJSON json.RawMessage) (*kindSchema, error) {
	if len(schemaJSON) == 0 {
		return nil, fmt.Errorf("crdschema: %s has no openAPIV3Schema", gvk)
	}
	var raw map[string]any
	if err := json.Unmarshal(schemaJSON, &raw); err != nil {
		return nil, fmt.Errorf("crdschema: %s: %w", gvk, err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaJSON))
	if err != nil {
		return nil, fmt.Errorf("crdschema: %s: %w", gvk, err)
	}
	// OpenAPI 3.0 schema objects follow JSON Schema draft 4/5 semantics
	// (exclusiveMaximum is a boolean); the x-kubernetes-* and nullable
	// keywords are unknown to it and ignored, and checked by the walk.
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft4)
	url := "crd:///" + gvk.Group + "/" + gvk.Version + "/" + gvk.Kind + ".json"
	if err := c.AddResource(url, doc); err != nil {
		return nil, fmt.Errorf("crdschema: %s: %w", gvk, err)
	}
	compiled, err := c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("crdschema: %s: compiling the schema: %w", gvk, err)
	}
	return &kindSchema{raw: raw, compiled: compiled, rules: newRuleCache()}, nil
}

// Kinds lists the kinds the set knows.
func (s *Set) Kinds() []GVK {
	out := make([]GVK, 0, len(s.kinds))
	for k := range s.kinds {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// Validate checks one object given as JSON. It returns the violations, each
// "path: message", sorted; err is for objects it cannot check at all (not
// JSON, or a kind the set does not know).
func (s *Set) Validate(objJSON []byte) (violations []string, err error) {
	var obj map[string]any
	dec := json.NewDecoder(bytes.NewReader(objJSON))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil {
		return nil, fmt.Errorf("crdschema: the object is not a JSON object: %w", err)
	}
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	group, version, found := strings.Cut(apiVersion, "/")
	if !found {
		group, version = "", apiVersion
	}
	gvk := GVK{group, version, kind}
	ks := s.kinds[gvk]
	if ks == nil {
		return nil, fmt.Errorf("crdschema: no schema for %s", gvk)
	}
	violations = append(violations, validateMetadata(obj["metadata"], ks.namespaced)...)

	// The schema describes the object without its type and object meta,
	// which the API server handles itself.
	body := map[string]any{}
	for k, v := range obj {
		if k != "apiVersion" && k != "kind" && k != "metadata" {
			body[k] = v
		}
	}
	violations = append(violations, jsonSchemaViolations(ks.compiled, body)...)
	w := walker{rules: ks.rules}
	w.walk(ks.raw, body, "")
	violations = append(violations, w.violations...)
	sort.Strings(violations)
	return violations, nil
}

// validateMetadata decodes metadata strictly into ObjectMeta and applies
// apimachinery's object meta validation.
func validateMetadata(raw any, namespaced bool) []string {
	if raw == nil {
		return []string{"metadata: Required value"}
	}
	js, err := json.Marshal(raw)
	if err != nil {
		return []string{"metadata: " + err.Error()}
	}
	var meta metav1.ObjectMeta
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&meta); err != nil {
		return []string{"metadata: " + err.Error()}
	}
	if namespaced && meta.Namespace == "" {
		meta.Namespace = "default" // kubectl fills in the current namespace
	}
	errs := apivalidation.ValidateObjectMeta(&meta, namespaced, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	var out []string
	for _, e := range errs {
		out = append(out, e.Error())
	}
	return out
}

// jsonSchemaViolations validates body against the compiled schema and
// flattens the errors to their leaves.
func jsonSchemaViolations(sch *jsonschema.Schema, body map[string]any) []string {
	js, err := json.Marshal(body)
	if err != nil {
		return []string{err.Error()}
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		return []string{err.Error()}
	}
	err = sch.Validate(inst)
	if err == nil {
		return nil
	}
	var verr *jsonschema.ValidationError
	if !errors.As(err, &verr) {
		return []string{err.Error()}
	}
	var out []string
	var collect func(u jsonschema.OutputUnit)
	collect = func(u jsonschema.OutputUnit) {
		if u.Error != nil && len(u.Errors) == 0 {
			out = append(out, fieldPath(u.InstanceLocation)+": "+u.Error.String())
		}
		for _, c := range u.Errors {
			collect(c)
		}
	}
	collect(*verr.BasicOutput())
	return out
}

// fieldPath turns a JSON pointer ("/spec/targetRefs/0/name") into the
// field path the walk uses ("spec.targetRefs[0].name").
func fieldPath(pointer string) string {
	if pointer == "" || pointer == "/" {
		return "<root>"
	}
	var b strings.Builder
	for _, seg := range strings.Split(strings.TrimPrefix(pointer, "/"), "/") {
		seg = strings.NewReplacer("~1", "/", "~0", "~").Replace(seg)
		if _, err := strconv.Atoi(seg); err == nil && b.Len() > 0 {
			b.WriteString("[" + seg + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(seg)
	}
	return b.String()
}

// SplitYAML splits a multi-document YAML stream into its non-empty
// documents.
func SplitYAML(data []byte) ([][]byte, error) {
	r := k8syaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("crdschema: splitting YAML: %w", err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) > 0 {
			docs = append(docs, doc)
		}
	}
}

// stripComments drops whole-line comments, to tell an empty document from
// one with content.
func stripComments(doc []byte) []byte {
	var out bytes.Buffer
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' && !bytes.Equal(t, []byte("---")) {
			out.Write(line)
			out.WriteByte('\n')
		}
	}
	return out.Bytes()
}
