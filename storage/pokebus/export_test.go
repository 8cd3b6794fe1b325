package pokebus

import "time"

// SetHealthInterval shortens the silence Run tolerates on its subscription,
// so a test can watch a dead connection being replaced.
func (b *Bus) SetHealthInterval(d time.Duration) { b.healthInterval = d }
