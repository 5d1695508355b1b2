package tracestore

// Str is an interned string held by the store; 0 is the empty string.
type Str uint32

// Interner shares one copy of each string held by open traces (agent ids,
// models, tool names, services repeat across spans and traces) and frees it
// when the last trace that holds it closes, so held strings are bounded by
// what open traces name, not by everything ever seen.
type Interner struct {
	ids    map[string]Str
	strs   []string
	refs   []int32
	free   []Str
	bytes  int64
	maxLen int
}

// stringOverhead approximates the bytes one interned string costs beyond
// its text: map entry, string header, slice slots.
const stringOverhead = 64

func newInterner(maxLen int) *Interner {
	return &Interner{ids: map[string]Str{}, strs: []string{""}, refs: []int32{0}, maxLen: maxLen}
}

// Intern returns the handle of s (capped at the maximum length) and holds
// one reference to it. The text is copied: s may alias span memory.
func (in *Interner) Intern(s string) Str {
	if s == "" {
		return 0
	}
	if in.maxLen > 0 && len(s) > in.maxLen {
		s = s[:in.maxLen]
	}
	if id, ok := in.ids[s]; ok {
		in.refs[id]++
		return id
	}
	s = string([]byte(s)) // own copy, never span memory
	var id Str
	if n := len(in.free); n > 0 {
		id = in.free[n-1]
		in.free = in.free[:n-1]
		in.strs[id], in.refs[id] = s, 1
	} else {
		id = Str(len(in.strs))
		in.strs = append(in.strs, s)
		in.refs = append(in.refs, 1)
	}
	in.ids[s] = id
	in.bytes += int64(len(s)) + stringOverhead
	return id
}

// Cached is Intern through a one-entry cache (the same model or tool name
// repeats span after span): a hit costs a string compare instead of a map
// lookup. The cache holds a reference of its own; Drop releases it.
func (in *Interner) Cached(c *StrCache, s string) Str {
	if in.maxLen > 0 && len(s) > in.maxLen {
		s = s[:in.maxLen]
	}
	if c.id != 0 && s == c.s {
		in.refs[c.id]++
		return c.id
	}
	id := in.Intern(s)
	if id != 0 {
		in.Release(c.id)
		in.refs[id]++
		c.id, c.s = id, in.strs[id]
	}
	return id
}

// StrCache is the one-entry cache of Cached.
type StrCache struct {
	s  string
	id Str
}

// Drop releases the cache's reference.
func (in *Interner) Drop(c *StrCache) {
	in.Release(c.id)
	*c = StrCache{}
}

// Retain holds one more reference to id.
func (in *Interner) Retain(id Str) {
	if id != 0 {
		in.refs[id]++
	}
}

// Release drops one reference; the string is freed with its last one.
func (in *Interner) Release(id Str) {
	if id == 0 {
		return
	}
	in.refs[id]--
	if in.refs[id] > 0 {
		return
	}
	s := in.strs[id]
	delete(in.ids, s)
	in.bytes -= int64(len(s)) + stringOverhead
	in.strs[id] = ""
	in.free = append(in.free, id)
}

// String returns the text of id.
func (in *Interner) String(id Str) string { return in.strs[id] }

// Len is the number of distinct strings held.
func (in *Interner) Len() int { return len(in.ids) }

// Bytes is the memory the held strings cost (approximate).
func (in *Interner) Bytes() int64 { return in.bytes }
