package alipaytest

import (
	"iter"
	"slices"
	"strings"
)

// Param is one key=value pair of a callback, value already decoded (never
// percent-encoded).
type Param struct {
	// Key is the parameter name.
	Key string
	// Value is the decoded value; "" is an empty value, which is sent.
	Value string
}

// WireParams is the ordered, editable list of a callback's parameters as they
// travel. Alipay sends its parameters unsorted, and the order on the wire
// must not matter to a verifier, so unlike url.Values (and unlike
// alipaynotify.Params, the verifier's sorted read-only result) a WireParams
// keeps the order in which keys were first set, and any duplicates. The zero value is an empty list ready to use; a nil *WireParams
// reads as empty.
type WireParams struct {
	list []Param
}

// NewWireParams returns WireParams holding the given key, value, key, value, ...
// pairs in that order. It panics if kv has an odd length.
func NewWireParams(kv ...string) *WireParams {
	if len(kv)%2 != 0 {
		panic("alipaytest: NewWireParams needs key/value pairs")
	}
	p := &WireParams{list: make([]Param, 0, len(kv)/2)}
	for i := 0; i < len(kv); i += 2 {
		p.Set(kv[i], kv[i+1])
	}
	return p
}

// Set sets key to value. An existing key keeps its position (later
// duplicates of it are removed); a new key is appended.
func (p *WireParams) Set(key, value string) {
	i := p.index(key)
	if i < 0 {
		p.list = append(p.list, Param{key, value})
		return
	}
	p.list[i].Value = value
	for j := len(p.list) - 1; j > i; j-- {
		if p.list[j].Key == key {
			p.list = slices.Delete(p.list, j, j+1)
		}
	}
}

// Add appends key=value even if key is already present. Alipay is not known
// to send duplicate parameters; Add exists to test how a verifier rejects
// them.
func (p *WireParams) Add(key, value string) {
	p.list = append(p.list, Param{key, value})
}

// Get returns the value of the first pair with key, or "".
func (p *WireParams) Get(key string) string {
	v, _ := p.Lookup(key)
	return v
}

// Lookup returns the value of the first pair with key and whether there is
// one, telling an empty value from a missing key.
func (p *WireParams) Lookup(key string) (string, bool) {
	if i := p.index(key); i >= 0 {
		return p.list[i].Value, true
	}
	return "", false
}

// Del removes every pair with key.
func (p *WireParams) Del(key string) {
	if p == nil {
		return
	}
	p.list = slices.DeleteFunc(p.list, func(q Param) bool { return q.Key == key })
}

// Len returns the number of pairs.
func (p *WireParams) Len() int {
	if p == nil {
		return 0
	}
	return len(p.list)
}

// Keys returns the keys in order (a duplicated key appears once per pair).
func (p *WireParams) Keys() []string {
	if p == nil {
		return nil
	}
	keys := make([]string, len(p.list))
	for i, q := range p.list {
		keys[i] = q.Key
	}
	return keys
}

// Pairs returns a copy of the pairs in order.
func (p *WireParams) Pairs() []Param {
	if p == nil {
		return nil
	}
	return slices.Clone(p.list)
}

// All iterates over the pairs in order.
func (p *WireParams) All() iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		if p == nil {
			return
		}
		for _, q := range p.list {
			if !yield(q.Key, q.Value) {
				return
			}
		}
	}
}

// Clone returns an independent copy.
func (p *WireParams) Clone() *WireParams {
	return &WireParams{list: p.Pairs()}
}

// Sort orders the pairs by key in byte order, the order of the
// string-to-sign. Pairs with equal keys keep their relative order.
func (p *WireParams) Sort() {
	if p == nil {
		return
	}
	slices.SortStableFunc(p.list, func(a, b Param) int { return strings.Compare(a.Key, b.Key) })
}

// Map returns the pairs as a map (the last duplicate wins), for assertions.
func (p *WireParams) Map() map[string]string {
	m := make(map[string]string, p.Len())
	for k, v := range p.All() {
		m[k] = v
	}
	return m
}

func (p *WireParams) index(key string) int {
	if p == nil {
		return -1
	}
	return slices.IndexFunc(p.list, func(q Param) bool { return q.Key == key })
}
