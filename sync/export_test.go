package sync

import "errors"

// Poison mutations for the tests of guarantee 4: a handler that panics and
// one that fails with an error that is not a domain error (a bug). They
// are registered before any test runs, so no test races the registry.
func init() {
	for name, apply := range map[string]handler{
		"test.panic":    func(*mut) error { panic("poison") },
		"test.internal": func(*mut) error { return errors.New("a bug") },
	} {
		registry[name] = &mutationDef{
			info: MutationInfo{Name: name, Summary: "test only", Args: []ArgInfo{{Name: "any"}},
				Rejections: []RejectionCode{RejectInternal}, Echo: "never"},
			apply: apply,
		}
	}
}
