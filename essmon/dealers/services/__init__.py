"""Dealer workflows that write, one module per job: ``registration`` (販売店様の登録 and
their own data), ``staff`` (保守担当者), ``links`` (the customers' maintenance links, with
the consent recorded), ``records`` (販売店様による閲覧・変更の記録); what they share:
``errors``. Reads are in ``dealers.selectors``; the words shown to customers and dealers
in ``dealers.disclosure``."""
