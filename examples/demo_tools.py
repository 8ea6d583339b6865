"""A realistic toolbox for the demo: a CRM namespace and an operations namespace, a dozen tools in all.

Bodies are small and deterministic (an in-memory "database"), so the demo runs offline in a second.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from armorer_ray import CallContext, Decision, PolicyContext, Toolbox, Transient, tool

CUSTOMERS = {
    1: {"id": 1, "name": "Ada Lovelace", "email": "ada@example.com", "tier": "gold"},
    2: {"id": 2, "name": "Grace Hopper", "email": "grace@example.com", "tier": "silver"},
    3: {"id": 3, "name": "Alan Turing", "email": "alan@example.com", "tier": "gold"},
}
ORDERS = {
    101: {"id": 101, "customer_id": 1, "total": 42.0, "status": "delivered"},
    102: {"id": 102, "customer_id": 1, "total": 1250.0, "status": "delivered"},
    103: {"id": 103, "customer_id": 2, "total": 18.5, "status": "shipped"},
}


class Customer(BaseModel):
    id: int
    name: str
    email: str
    tier: Literal["gold", "silver", "bronze"]


@tool(namespace="crm", tags=["customers", "search"], read_only=True)
def search_customers(query: str, limit: Annotated[int, Field(ge=1, le=50)] = 5) -> list[dict[str, object]]:
    """Find customers whose name or email contains the query.

    Args:
        query: Part of a name or an email address.
        limit: Most customers to return.
    """
    q = query.lower()
    return [c for c in CUSTOMERS.values() if q in str(c["name"]).lower() or q in str(c["email"])][:limit]


@tool(namespace="crm", tags=["customers"], read_only=True, output_model=Customer)
def get_customer(customer_id: int) -> dict[str, object]:
    """Fetch one customer record by id.

    Args:
        customer_id: Numeric customer id.
    """
    if customer_id not in CUSTOMERS:
        from armorer_ray import NotFound

        raise NotFound(f"No customer with id {customer_id}; search by name first")
    return CUSTOMERS[customer_id]


@tool(namespace="crm", tags=["customers"], mutates=True)
def update_email(customer_id: int, email: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]) -> str:
    """Change a customer's email address.

    Args:
        customer_id: Numeric customer id.
        email: The new address.
    """
    CUSTOMERS[customer_id]["email"] = email
    return f"customer {customer_id} now reachable at {email}"


@tool(namespace="crm", tags=["orders"], read_only=True)
def list_orders(customer_id: int) -> list[dict[str, object]]:
    """List a customer's orders with totals and status.

    Args:
        customer_id: Numeric customer id.
    """
    return [o for o in ORDERS.values() if o["customer_id"] == customer_id]


@tool(namespace="crm", tags=["orders", "payments"], mutates=True, metadata={"approval_over": 100})
def refund_order(order_id: int, amount: Annotated[float, Field(gt=0)], reason: str) -> str:
    """Refund part or all of an order to the customer's card.

    Args:
        order_id: The order to refund.
        amount: Amount in dollars.
        reason: Why, for the audit log.
    """
    order = ORDERS[order_id]
    order["status"] = "refunded"
    return f"refunded ${amount:.2f} on order {order_id} ({reason})"


@tool(namespace="crm", tags=["messaging"], mutates=True, dry_run=lambda to, subject, body: f"would email {to}")
def send_email(to: str, subject: str, body: str) -> str:
    """Send an email to a customer.

    Args:
        to: Recipient address.
        subject: Subject line.
        body: Plain-text body.
    """
    return f"sent '{subject}' to {to}"


@tool(namespace="ops", tags=["monitoring"], read_only=True)
async def check_service_health(service: Literal["api", "billing", "search"]) -> dict[str, object]:
    """Report whether a service is healthy, with its error rate.

    Args:
        service: Service name.
    """
    await asyncio.sleep(0.01)
    return {"service": service, "healthy": service != "billing", "error_rate": 0.07 if service == "billing" else 0.0}


@tool(namespace="ops", tags=["monitoring", "metrics"], read_only=True)
async def get_metrics(service: str, window_minutes: int = 15) -> dict[str, float]:
    """Latency and throughput of a service over a recent window.

    Args:
        service: Service name.
        window_minutes: How far back to look.
    """
    await asyncio.sleep(0.01)
    return {"p50_ms": 41.0, "p99_ms": 380.0, "rps": 1200.0 / window_minutes}


@tool(namespace="ops", tags=["logs"], read_only=True, timeout_s=0.3)
async def query_logs(service: str, pattern: str, ctx: CallContext) -> list[str]:
    """Search a service's logs for a pattern (slow on large services).

    Args:
        service: Service name.
        pattern: Text to look for.
    """
    for step in range(10):
        ctx.progress(step * 10, f"scanned {step} shards")
        await asyncio.sleep(0.1)
    return [f"{service}: ... {pattern} ..."]


@tool(namespace="ops", tags=["incidents"], mutates=True)
def create_ticket(title: str, severity: Literal["low", "high", "critical"] = "low") -> dict[str, object]:
    """Open an incident ticket.

    Args:
        title: One-line summary.
        severity: Urgency.
    """
    return {"ticket": "INC-4821", "title": title, "severity": severity}


@tool(namespace="ops", tags=["deploys"], mutates=True, dangerous=True)
def restart_service(service: str) -> str:
    """Restart a production service (drops in-flight requests).

    Args:
        service: Service name.
    """
    return f"restarted {service}"


@tool(namespace="ops", tags=["incidents"], mutates=True)
def page_oncall(team: str, message: str) -> str:
    """Page the on-call engineer of a team.

    Args:
        team: Team name.
        message: What is wrong.
    """
    if team == "billing":
        raise Transient("pager gateway returned 503", code="PAGER_UNAVAILABLE")
    return f"paged {team}: {message}"


ALL_TOOLS = [search_customers, get_customer, update_email, list_orders, refund_order, send_email,
             check_service_health, get_metrics, query_logs, create_ticket, restart_service, page_oncall]


def support_policy(ctx: PolicyContext) -> Decision | None:
    """Agents may not run dangerous tools; refunds over a tool's threshold need a supervisor."""
    if ctx.tool.is_dangerous and ctx.values.get("role") != "admin":
        return Decision.deny(f"{ctx.tool.name} is dangerous and needs the admin role")
    threshold = ctx.tool.metadata.get("approval_over")
    if isinstance(threshold, int | float) and float(ctx.params.get("amount", 0)) > threshold:
        return Decision.needs_approval(f"refund of ${ctx.params['amount']:.2f} exceeds ${threshold}; "
                                       "a supervisor must approve")
    return None


def build_toolbox() -> Toolbox:
    """The demo toolbox: every tool, the support policy, an agent's context."""
    return Toolbox(ALL_TOOLS, policy=support_policy, context={"role": "agent", "team": "support"}, name="support")
