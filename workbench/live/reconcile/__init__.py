"""Live versus backtest, trade by trade: did the bot do what the backtest says it should have?

:func:`reconcile` reads a live run's state file, replays *exactly the bars the runner
saw* through the event-driven backtest with the bundle's strategy, parameters, costs
and risk config (starting from the live account's first recorded equity), then pairs
the round-trip trades of both sides and reports every difference:

``missing``        a backtest trade the live run does not have
``extra``          a live trade the backtest does not have (either with why, when the other
                   side's orders tell: :mod:`~workbench.live.reconcile.lone`)
``exit``           matched entries, but one side closed the trade and the other did not
``decision_time``  entry or exit decided on a different bar (more than ``decision_bars``)
``fill_time``      filled a bar or more later (or earlier) after its decision than in
                   the backtest: a limit touched later, a partial fill's rest on the next bar,
                   an outage, an order that filled nothing sent again whole by the next
                   decision (it carries the first one's decision:
                   :mod:`~workbench.live.reconcile.replaced`); that leg's price difference
                   is the market's move between the bars, so it is not also a
                   ``fill_price`` difference
``fill_price``     entry or exit filled on the same bar, prices apart by more than
                   ``price_bps``; the table gives the realised slippage (against the fill
                   bar's open) beside the modelled one
``fee``            live commission against the bundle's commission model on the live fills
``size``           position size as a fraction of equity at the decision, apart by ``size_rel``
``partial_fill``   a size (or exit) difference because an order of the smaller side filled
                   part of its quantity and its rest was canceled or expired, never sent
                   again (the last order of that leg ended short); the detail names it
``dropped_fill``   a fill the runner never recorded: the orders table or the broker's
                   positions show it, the fills table does not
``risk_event``     a risk event on one side only

A trade is a round trip: its entry orders with every order that closed it (two exit
orders, a partial fill's rest sent again or a bracket's leg then a protective exit, are
one trade, as freqtrade counts a trade with partial exits; see
:mod:`~workbench.live.reconcile.roundtrips`). An entry order that ended partly filled and
whose rest was sent again as a second entry order, before any exit, is one trade with it
too, its rest's later fill a ``fill_time`` difference (an order carrying the rest and an
add gives the trade the rest only, the add being a trade of its own); an entry added to a
position whose entry filled whole is a trade of its own, as in the backtest (the rule:
:mod:`~workbench.live.reconcile.resent`). Trades are paired per symbol and direction
in order of their entry decision bar, two decisions at most ``window_bars`` apart being
the same trade (a trade whose entry decision is unknown is paired with nothing: missing or
extra, saying so). A difference is *explained* when a live event the backtest does not have
names its symbol and decision bar (a risk refusal only the live run made, say; a risk
event of both sides explains nothing); any unexplained difference fails the verdict
(exit code 1). Files: see :mod:`workbench.live.reconcile.report`.
"""

from __future__ import annotations

from workbench.live.reconcile.model import CATEGORIES, Reconciliation, Tolerances, Verdict
from workbench.live.reconcile.run import reconcile, reconcile_daily

__all__ = ["CATEGORIES", "Reconciliation", "Tolerances", "Verdict", "reconcile", "reconcile_daily"]
