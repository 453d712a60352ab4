//! Explicit topic creation, so partition counts are ours and not a broker default.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

use super::KafkaConfig;
use crate::BusError;

/// Creates each `(topic, partitions)`; a topic that already exists is fine.
pub async fn create_topics(config: &KafkaConfig, topics: &[(&str, i32)]) -> Result<(), BusError> {
    let admin: AdminClient<DefaultClientContext> = config.base().create()?;
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|(name, parts)| NewTopic::new(name, *parts, TopicReplication::Fixed(1)))
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.create_topics(new.iter(), &opts).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                return Err(BusError::Kafka(rdkafka::error::KafkaError::AdminOp(code))).inspect_err(
                    |_| {
                        tracing::error!(topic = %name, ?code, "creating topic failed");
                    },
                )
            }
        }
    }
    Ok(())
}
