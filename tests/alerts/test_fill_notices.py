from autostock import accounts, orders
from tests.helpers import internal_headers, invoke
from tests.orders.conftest import clock, desk, listed, order_body, quote  # noqa: F401 - shared fixtures


def test_a_fill_sends_one_notice_to_its_owner_only(linked_user, telegram, tg_resources, desk, listed):
    owner, other = linked_user(), linked_user()
    account = accounts.create_account(tg_resources, owner["id"], broker="paper", is_paper=True,
                                      starting_cash=10_000_000)
    symbol = listed(70_000)
    status, order = orders.place_order(desk, owner["id"], order_body(symbol, order_type="market", price=None,
                                                                     quantity=2, account_id=account["id"]))
    assert status == 201 and order["status"] == "filled", order
    for _ in range(2):  # the orders.filled wake-up, delivered twice
        assert invoke("send-alert", "POST", "/", b"{}", headers=internal_headers("orders.filled")).status == 200
    texts = telegram.texts(owner["chat_id"])
    assert len(texts) == 1 and texts[0].startswith("체결 알림\n체결: ") and "매수 2주" in texts[0]
    assert telegram.texts(other["chat_id"]) == []
    inbox = invoke("alerts", "GET", "/api/v1/notifications", token=owner["token"]).json["items"]
    assert [n["kind"] for n in inbox] == ["fill"]


def test_fill_notices_can_be_turned_off_but_stay_in_the_inbox(linked_user, telegram, tg_resources, desk, listed):
    u = linked_user()
    invoke("alerts", "PATCH", "/api/v1/notifications/settings", {"notify_fills": False}, token=u["token"])
    account = accounts.create_account(tg_resources, u["id"], broker="paper", is_paper=True, starting_cash=5_000_000)
    symbol = listed(70_000)
    orders.place_order(desk, u["id"], order_body(symbol, order_type="market", price=None, quantity=1,
                                                 account_id=account["id"]))
    invoke("send-alert", "POST", "/", b"{}", headers=internal_headers("orders.filled"))
    assert telegram.texts(u["chat_id"]) == []
    assert invoke("alerts", "GET", "/api/v1/notifications", token=u["token"]).json["unread"] == 1


def test_a_fill_notice_is_in_the_users_language(linked_user, telegram, tg_resources, desk, listed):
    u = linked_user(language="en")
    account = accounts.create_account(tg_resources, u["id"], broker="paper", is_paper=True, starting_cash=5_000_000)
    symbol = listed(70_000)
    status, order = orders.place_order(desk, u["id"], order_body(symbol, order_type="market", price=None,
                                                                 quantity=3, account_id=account["id"]))
    assert status == 201 and order["status"] == "filled", order
    invoke("send-alert", "POST", "/", b"{}", headers=internal_headers("orders.filled"))
    texts = telegram.texts(u["chat_id"])
    assert len(texts) == 1 and "Filled: BUY 3" in texts[0] and "체결" not in texts[0], texts
