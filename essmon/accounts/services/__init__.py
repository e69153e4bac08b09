"""Account workflows that write, one module per job: ``registration`` (お客様情報の登録),
``activation`` (本登録), ``expiry`` (provisional registrations that end without it),
``login`` (limits and lock), ``changes`` (the account's own data), ``gateway_add``
(ゲートウェイの登録); what several of them share: ``errors``, ``inputs``, ``links`` (the
mailed single-use links), ``terms`` (acceptances). Reads are in ``accounts.selectors``."""
