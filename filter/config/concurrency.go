package config

import "github.com/tidwall/gjson"

// MaxConcurrency bounds a concurrency cap: the calls in flight under one
// cap are listed in one shared-data value.
const MaxConcurrency = 10000

// Concurrency caps the calls in flight at once ("concurrency"): Shared
// for all callers together, PerUser for each user; 0 is no cap. At least
// one is set.
type Concurrency struct {
	Shared  int64 // "shared"
	PerUser int64 // "perUser"
}

var concurrencyMembers = []fieldSpec{
	{name: "shared", typ: "integer"},
	{name: "perUser", typ: "integer"},
}

// parseConcurrency reads a concurrency object.
func parseConcurrency(path string, v gjson.Result) (*Concurrency, *Error) {
	if !v.IsObject() {
		return nil, errorf(path, `must be an object such as {"shared": 10, "perUser": 2}, got %s`, shown(v))
	}
	c := &Concurrency{}
	err := eachMember(v, path, concurrencyMembers, func(name, path string, v gjson.Result) *Error {
		n, err := intInRange(path, v, 1, MaxConcurrency, " (the calls in flight are listed in one shared-data value)")
		switch name {
		case "shared":
			c.Shared = int64(n)
		case "perUser":
			c.PerUser = int64(n)
		default:
			err = errorf(path, "known but not handled (a bug)")
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if c.Shared == 0 && c.PerUser == 0 {
		return nil, errorf(path, "sets no cap; it must set shared, perUser or both")
	}
	return c, nil
}
