// Package jobs holds the asynq side of fieldsync: task kinds and their
// handlers, and the outbox relay that moves side effects written in a data
// transaction onto the queue.
//
// Asynq lives in Redis and cannot join a database transaction, so nothing
// enqueues straight from request code: writers add outbox rows in their
// transaction, and the relay enqueues each row with asynq.TaskID(row id).
// A crash between commit and enqueue is recovered by the next relay pass;
// a second enqueue of the same row is refused by asynq as a duplicate id.
package jobs
