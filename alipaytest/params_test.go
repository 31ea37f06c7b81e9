package alipaytest_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/alipaynotify/alipaynotify/alipaytest"
)

func TestParams(t *testing.T) {
	tests := []struct {
		name string
		do   func(p *alipaytest.WireParams)
		want []string // key, value, ...
	}{
		{"insertion order kept", func(p *alipaytest.WireParams) {}, []string{"b", "1", "a", "2", "c", "3"}},
		{"set existing keeps position", func(p *alipaytest.WireParams) { p.Set("a", "x") }, []string{"b", "1", "a", "x", "c", "3"}},
		{"set new appends", func(p *alipaytest.WireParams) { p.Set("0", "z") }, []string{"b", "1", "a", "2", "c", "3", "0", "z"}},
		{"add duplicates", func(p *alipaytest.WireParams) { p.Add("a", "y") }, []string{"b", "1", "a", "2", "c", "3", "a", "y"}},
		{"set collapses duplicates", func(p *alipaytest.WireParams) { p.Add("a", "y"); p.Set("a", "z") }, []string{"b", "1", "a", "z", "c", "3"}},
		{"del removes all", func(p *alipaytest.WireParams) { p.Add("a", "y"); p.Del("a") }, []string{"b", "1", "c", "3"}},
		{"sort is stable", func(p *alipaytest.WireParams) { p.Add("a", "0"); p.Sort() }, []string{"a", "2", "a", "0", "b", "1", "c", "3"}},
		{"empty value kept", func(p *alipaytest.WireParams) { p.Set("d", "") }, []string{"b", "1", "a", "2", "c", "3", "d", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := alipaytest.NewWireParams("b", "1", "a", "2", "c", "3")
			tt.do(p)
			var got []string
			for k, v := range p.All() {
				got = append(got, k, v)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if p.Len() != len(tt.want)/2 {
				t.Errorf("Len = %d", p.Len())
			}
		})
	}
}

func TestParamsAccessors(t *testing.T) {
	p := alipaytest.NewWireParams("a", "1", "e", "")
	if v, ok := p.Lookup("e"); !ok || v != "" {
		t.Errorf("Lookup(e) = %q, %v", v, ok)
	}
	if _, ok := p.Lookup("x"); ok {
		t.Error("Lookup(x) found a missing key")
	}
	c := p.Clone()
	c.Set("a", "2")
	if p.Get("a") != "1" {
		t.Error("Clone shares storage")
	}
	if !slices.Equal(p.Keys(), []string{"a", "e"}) {
		t.Errorf("Keys = %q", p.Keys())
	}
	if m := p.Map(); len(m) != 2 || m["a"] != "1" {
		t.Errorf("Map = %v", m)
	}
	var nilParams *alipaytest.WireParams
	if nilParams.Get("a") != "" || nilParams.Len() != 0 || nilParams.Keys() != nil {
		t.Error("nil Params is not empty")
	}
	var zero alipaytest.WireParams
	zero.Set("k", "v")
	if zero.Get("k") != "v" {
		t.Error("zero Params not usable")
	}
}

func TestNewWireParamsOddPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	odd := strings.Fields("a 1 b")
	alipaytest.NewWireParams(odd...)
}
