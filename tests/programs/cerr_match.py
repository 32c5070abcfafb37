# expect: compile-error 3:1 match statement
x = 1
match x:
    case 1:
        print(1)
