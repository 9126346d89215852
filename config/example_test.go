package config

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// TestExampleConfig keeps contrib/nat64br.yaml honest: it must validate,
// and name every key the configuration accepts.
func TestExampleConfig(t *testing.T) {
	const path = "../contrib/nat64br.yaml"
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.IPv6Interface == "" || len(c.EAM) == 0 {
		t.Errorf("the example lost its interfaces or EAM entries")
	}
	doc, _ := os.ReadFile(path)
	for _, key := range yamlKeys(reflect.TypeOf(raw{})) {
		if !regexp.MustCompile(`(?m)^\s*#?\s*(- )?` + regexp.QuoteMeta(key) + `:`).Match(doc) {
			t.Errorf("%s does not show key %q", path, key)
		}
	}
}

// yamlKeys lists the yaml tags of t and of the structs inside it.
func yamlKeys(t reflect.Type) []string {
	var out []string
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		out = append(out, tag)
		out = append(out, yamlKeys(f.Type)...)
	}
	return out
}

// TestContribConfigs requires every other configuration under contrib/ to
// validate.
func TestContribConfigs(t *testing.T) {
	for _, path := range []string{"../contrib/containerlab/nat64br.yaml", "../contrib/container/smoke.yaml"} {
		if _, err := Load(path); err != nil {
			t.Errorf("%s: %v", path, err)
		}
	}
}
