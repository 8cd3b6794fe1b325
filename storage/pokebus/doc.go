// Package pokebus carries sync pokes between server replicas over Redis
// publish/subscribe.
//
// A poke is a data-less "pull now" hint: after a commit, the database commit
// hook calls Bus.Publish with the organization and the users whose scope the
// commit touched; every replica's Bus.Run receives it on one pattern
// subscription and wakes the local event streams (Bus.Subscribe) of those
// users and of the organization's managers and admins. A poke is a hint, not
// a delivery guarantee: a lost one costs at most a periodic pull's delay, a
// duplicate costs one empty pull. So Publish never fails the write path, and
// Run pokes every local stream after it re-subscribes, because whatever was
// published while it was not subscribed is gone.
//
// Everything goes through Redis, even when publisher and subscriber share a
// process, so one replica behaves like many.
package pokebus
