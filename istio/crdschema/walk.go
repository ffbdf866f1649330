package crdschema

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// walker goes down the schema and the value together, checking what JSON
// Schema cannot: unknown fields, list types, and CEL rules.
type walker struct {
	rules      *ruleCache
	violations []string
}

func (w *walker) add(path, format string, args ...any) {
	if path == "" {
		path = "<root>"
	}
	w.violations = append(w.violations, path+": "+fmt.Sprintf(format, args...))
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func (w *walker) walk(schema map[string]any, value any, path string) {
	if schema == nil || value == nil {
		return
	}
	w.checkRules(schema, value, path)
	switch v := value.(type) {
	case map[string]any:
		w.walkObject(schema, v, path)
	case []any:
		items, _ := schema["items"].(map[string]any)
		for i, item := range v {
			w.walk(items, item, fmt.Sprintf("%s[%d]", path, i))
		}
		w.checkListType(schema, v, path)
	}
}

func (w *walker) walkObject(schema map[string]any, obj map[string]any, path string) {
	if preserve, _ := schema["x-kubernetes-preserve-unknown-fields"].(bool); preserve && schema["properties"] == nil {
		return
	}
	props, _ := schema["properties"].(map[string]any)
	additional := schema["additionalProperties"]
	preserve, _ := schema["x-kubernetes-preserve-unknown-fields"].(bool)
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if sub, ok := props[k].(map[string]any); ok {
			w.walk(sub, obj[k], join(path, k))
			continue
		}
		switch a := additional.(type) {
		case map[string]any:
			w.walk(a, obj[k], join(path, k))
			continue
		case bool:
			if a {
				continue
			}
		}
		if !preserve {
			w.add(join(path, k), "field not declared in schema (unknown field)")
		}
	}
}

// checkListType enforces x-kubernetes-list-type: "set" items are unique,
// "map" items are unique by their x-kubernetes-list-map-keys.
func (w *walker) checkListType(schema map[string]any, list []any, path string) {
	switch schema["x-kubernetes-list-type"] {
	case "set":
		seen := map[string]int{}
		for i, item := range list {
			key := canonical(item)
			if j, dup := seen[key]; dup {
				w.add(fmt.Sprintf("%s[%d]", path, i), "duplicate entry of list-type set (same as [%d])", j)
			}
			seen[key] = i
		}
	case "map":
		keyNames, _ := schema["x-kubernetes-list-map-keys"].([]any)
		seen := map[string]int{}
		for i, item := range list {
			obj, _ := item.(map[string]any)
			parts := make([]string, 0, len(keyNames))
			for _, kn := range keyNames {
				name, _ := kn.(string)
				parts = append(parts, canonical(obj[name]))
			}
			key := strings.Join(parts, "\x00")
			if j, dup := seen[key]; dup {
				w.add(fmt.Sprintf("%s[%d]", path, i), "duplicate entry of list-type map keyed by %v (same as [%d])", keyNames, j)
			}
			seen[key] = i
		}
	}
}

func canonical(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// checkRules evaluates the node's x-kubernetes-validations with self bound
// to value.
func (w *walker) checkRules(schema map[string]any, value any, path string) {
	rules, _ := schema["x-kubernetes-validations"].([]any)
	for _, r := range rules {
		rule, _ := r.(map[string]any)
		expr, _ := rule["rule"].(string)
		if expr == "" || strings.Contains(expr, "oldSelf") {
			continue // transition rules do not apply to a create
		}
		ok, err := w.rules.eval(expr, value)
		if err != nil {
			w.add(path, "rule %q could not be evaluated: %v", expr, err)
			continue
		}
		if !ok {
			msg, _ := rule["message"].(string)
			if msg == "" {
				msg = "failed rule: " + expr
			}
			w.add(path, "Invalid value: %s", msg)
		}
	}
}
