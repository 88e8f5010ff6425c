from cyclegan_fx.cli import main

main()
