//! The Redis suite against a real Redis Cluster: three `redis-server`
//! masters on free loopback ports, created by this test and killed when it
//! ends. Every script touches one queue's keys only, which share a hash tag,
//! so a CROSSSLOT error here would mean the key layout is wrong.

mod redis_support;

use redis_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_runs_on_a_redis_cluster() {
    if !redis_server_available() {
        return;
    }
    let cluster = match RedisCluster::start() {
        Ok(cluster) => cluster,
        Err(e) => {
            ticketon_runtime::test_env::service_unavailable("Redis Cluster", e);
            return;
        }
    };
    let target = cluster.target();
    two_servers_form_one_line(&target, &unique_prefix("cluster-line")).await;
    lease_takeover(&target, &unique_prefix("cluster-lease")).await;
    restart_continues_the_line(&target, &unique_prefix("cluster-restart")).await;
    leave_across_servers(&target, &unique_prefix("cluster-leave")).await;
    proof_of_work_across_servers(&target, &unique_prefix("cluster-pow")).await;
    prequeue_across_servers(&target, &unique_prefix("cluster-prequeue")).await;
    // The queues' keys are spread over the nodes, not all on one.
    let nodes_with_keys = cluster
        .nodes
        .iter()
        .filter(|n| n.cli(&["dbsize"]).trim() != "0")
        .count();
    assert!(nodes_with_keys >= 2, "keys on {nodes_with_keys} node(s)");
}
