// Package domain is fieldsync's vocabulary: the entities every organization
// owns, the enums that name their states, the pure business rules (lead
// scoring, temperatures, status workflows, who may see and do what), the error
// type with its stable codes, and the small interfaces ("ports") that the
// storage, push and job adapters implement.
//
// It imports only the standard library so that every rule can be read, tested
// and reused without a database, a network or a framework in sight.
package domain
