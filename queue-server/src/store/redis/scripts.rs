//! The Lua scripts, one file each under `lua/`, loaded once per process.
//!
//! Every multi-key write is a script so that it is atomic without MULTI
//! (which a Cluster client cannot pipeline across slots anyway) and costs
//! one round trip; each script only touches keys of one queue, which share
//! a hash tag (see `keys`). `Script` sends EVALSHA and loads the script on
//! a NOSCRIPT reply, so a restarted or failed-over Redis needs nothing.
//! A helper two scripts share (`seq_at.lua`) is prepended to each.

use redis::Script;

pub(super) struct Scripts {
    pub put_queue: Script,
    pub set_status: Script,
    pub delete_queue: Script,
    pub join: Script,
    pub leave: Script,
    pub acquire_lease: Script,
    pub release_lease: Script,
    pub admit: Script,
    pub refresh: Script,
    pub commit_draw: Script,
    pub unannounced: Script,
    pub mark_announced: Script,
}

impl Scripts {
    pub(super) fn load() -> Self {
        Scripts {
            put_queue: Script::new(include_str!("lua/put_queue.lua")),
            set_status: Script::new(include_str!("lua/set_status.lua")),
            delete_queue: Script::new(include_str!("lua/delete_queue.lua")),
            join: Script::new(include_str!("lua/join.lua")),
            leave: Script::new(include_str!("lua/leave.lua")),
            acquire_lease: Script::new(include_str!("lua/acquire_lease.lua")),
            release_lease: Script::new(include_str!("lua/release_lease.lua")),
            admit: Script::new(concat!(
                include_str!("lua/seq_at.lua"),
                include_str!("lua/admit.lua")
            )),
            refresh: Script::new(include_str!("lua/refresh.lua")),
            commit_draw: Script::new(include_str!("lua/commit_draw.lua")),
            unannounced: Script::new(concat!(
                include_str!("lua/seq_at.lua"),
                include_str!("lua/unannounced.lua")
            )),
            mark_announced: Script::new(include_str!("lua/mark_announced.lua")),
        }
    }
}
