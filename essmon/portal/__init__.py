"""The registration site's and the 管理・登録サイト's pages that draw on several apps: the
registration form (with the warranty's dates), the menus (the customer's, with the warranty
prompts; the operator's, with the fleet's counts), 「ゲートウェイの登録」 and the manual.
Not a Django app: its templates stay with essmon.accounts, under accounts/."""
