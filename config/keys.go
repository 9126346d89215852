package config

import (
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// checkKeys reports the unknown and the repeated keys of the document n
// and takes them out of it, in time linear in its size. The YAML
// decoder finds both too, but compares every key of a mapping with every
// other (a file of 80,000 unknown keys took a minute): once checkKeys has
// passed, a mapping holds only known keys, once each, a few dozen at
// most. It reports whether it found any.
func (v *validator) checkKeys(n *yaml.Node) bool {
	before := len(v.problems)
	v.checkNode(n, "", reflect.TypeOf(raw{}))
	return len(v.problems) > before
}

// checkNode checks n, at key path, against t, the type it decodes into.
func (v *validator) checkNode(n *yaml.Node, path string, t reflect.Type) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			v.checkNode(c, path, t)
		}
	case yaml.SequenceNode:
		if t.Kind() != reflect.Slice {
			return // the decoder says what is wrong
		}
		for i, c := range n.Content {
			v.checkNode(c, fmt.Sprintf("%s[%d]", path, i), t.Elem())
		}
	case yaml.MappingNode:
		if t.Kind() != reflect.Struct {
			return
		}
		fields := yamlFields(t)
		seen := make(map[string]int, len(n.Content)/2)
		kept := n.Content[:0]
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode || k.Value == "<<" {
				kept = append(kept, k, val) // merge keys and odd keys: the decoder's
				continue
			}
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			if first, dup := seen[k.Value]; dup {
				v.problems = append(v.problems, problem{k.Line, fmt.Sprintf("mapping key %q already defined at line %d", k.Value, first)})
				v.bad[k.Line] = true
				continue
			}
			seen[k.Value] = k.Line
			ft, known := fields[k.Value]
			if !known {
				v.problems = append(v.problems, problem{k.Line, p + ": unknown key"})
				v.bad[k.Line] = true
				continue
			}
			kept = append(kept, k, val)
			v.checkNode(val, p, ft)
		}
		n.Content = kept
	}
}

// yamlFields maps the yaml keys of struct type t to their field types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	m := make(map[string]reflect.Type, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = f.Type
	}
	return m
}
