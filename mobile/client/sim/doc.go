// Package sim is the device simulator behind `fieldsync sim`: simulated
// phones (mobile/client over HTTP, each with its own SQLite store) of reps,
// techs and managers edit a shared organization at random while the back
// office writes through the server's own write path, devices go offline,
// a fault-injecting TCP proxy (Proxy) drops, delays and cuts their
// connections, and the caller's chaos hooks kill the server or restart its
// database. At the end it quiesces and checks that every device converged
// on its user's scope, that every acknowledged mutation is reflected, that
// no deleted record came back and that every rejection was delivered.
package sim
