from ftth.cli import main

main()
