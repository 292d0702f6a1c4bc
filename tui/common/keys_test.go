package common

import (
	"reflect"
	"testing"

	"github.com/charmbracelet/bubbles/key"
)

func bindings(v any) []key.Binding {
	var out []key.Binding
	rv := reflect.ValueOf(v)
	for i := range rv.NumField() {
		if b, ok := rv.Field(i).Interface().(key.Binding); ok {
			out = append(out, b)
		}
	}
	return out
}

// TestNoDuplicateKeys checks that no key is bound twice in a scope, and that
// no pane key is also a global key (the root would take it first).
func TestNoDuplicateKeys(t *testing.T) {
	km := DefaultKeyMap()
	global := map[string]string{}
	for _, b := range bindings(km.Global) {
		for _, k := range b.Keys() {
			if d, ok := global[k]; ok {
				t.Errorf("global: %q bound to %q and %q", k, d, b.Help().Desc)
			}
			global[k] = b.Help().Desc
		}
	}
	for name, scope := range map[string]any{
		"connections": km.Connections, "subscriptions": km.Subscription, "messages": km.Messages,
		"publish": km.Publish, "packets": km.Packets, "topics": km.Topics, "form": km.Form, "detail": km.Detail,
	} {
		seen := map[string]string{}
		for _, b := range bindings(scope) {
			for _, k := range b.Keys() {
				if d, ok := seen[k]; ok && d != b.Help().Desc {
					t.Errorf("%s: %q bound to %q and %q", name, k, d, b.Help().Desc)
				}
				seen[k] = b.Help().Desc
				if g, ok := global[k]; ok {
					t.Errorf("%s: %q (%s) is the global key for %q", name, k, b.Help().Desc, g)
				}
			}
		}
	}
}
