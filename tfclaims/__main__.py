from tfclaims.cli import main

main()
