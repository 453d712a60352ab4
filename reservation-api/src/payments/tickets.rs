//! Ticket use cases: reading one's tickets, a gate using one, a buyer
//! cancelling one for a refund of its price.

use crate::domain::payment::RefundState;
use crate::error::{Error, ErrorCode, Result};
use crate::store::{CancelStart, TicketRecord};

use super::Payments;

/// Who asks about tickets: a buyer with an admission token (all their
/// tickets) or with the access token of one reservation (that
/// reservation's tickets only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub user_id: String,
    /// `Some` when the caller holds an access token, which opens one
    /// reservation only.
    pub reservation_id: Option<String>,
}

impl Holder {
    pub fn may_see(&self, user_id: &str, reservation_id: &str) -> bool {
        self.user_id == user_id
            && self
                .reservation_id
                .as_deref()
                .is_none_or(|r| r == reservation_id)
    }
}

/// What a cancellation request ended in.
#[derive(Debug, Clone)]
pub enum TicketCancel {
    /// Refunded and cancelled.
    Cancelled(TicketRecord),
    /// The provider's answer about the refund is not known yet; the reconciler
    /// will finish it.
    Pending(TicketRecord),
}

fn not_found(id: &str) -> Error {
    Error::rejected(ErrorCode::TicketNotFound, format!("no ticket {id:?}"))
}

impl Payments {
    pub async fn ticket_for(&self, holder: &Holder, id: &str) -> Result<TicketRecord> {
        match self.store.get_ticket(id).await? {
            Some(t) if holder.may_see(&t.user_id, &t.reservation_id) => Ok(t),
            _ => Err(not_found(id)),
        }
    }

    pub async fn tickets_for(&self, holder: &Holder) -> Result<Vec<TicketRecord>> {
        match &holder.reservation_id {
            Some(rid) => Ok(self
                .store
                .tickets_of_reservation(rid)
                .await?
                .into_iter()
                .filter(|t| t.user_id == holder.user_id)
                .collect()),
            None => Ok(self.store.tickets_of_user(&holder.user_id).await?),
        }
    }

    /// Admin: a gate admits the ticket. Once only.
    pub async fn use_ticket(&self, id: &str) -> Result<TicketRecord> {
        Ok(self.store.use_ticket(id, self.now_ms()).await?)
    }

    /// The buyer gives a ticket back: the provider refunds its price (a partial
    /// cancel when the order had several tickets), then the ticket is
    /// cancelled and its seat freed, in one transaction.
    pub async fn cancel_ticket(&self, holder: &Holder, id: &str) -> Result<TicketCancel> {
        self.ticket_for(holder, id).await?;
        let outcome = match self.store.begin_ticket_cancel(id, self.now_ms()).await? {
            CancelStart::AlreadyCancelled => RefundState::Done,
            CancelStart::Refund(target) => self.drive_refund(&target).await?,
        };
        let ticket = self
            .store
            .get_ticket(id)
            .await?
            .ok_or_else(|| not_found(id))?;
        match outcome {
            RefundState::Done => Ok(TicketCancel::Cancelled(ticket)),
            RefundState::Pending => Ok(TicketCancel::Pending(ticket)),
            RefundState::Failed => Err(Error::rejected(
                ErrorCode::RefundDeclined,
                "the payment provider refused the refund; the ticket stays valid",
            )),
        }
    }
}
