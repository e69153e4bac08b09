"""The tabs of a gateway's page that show what another app keeps: 異常の履歴 and 保証."""
