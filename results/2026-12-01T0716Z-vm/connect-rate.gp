set title "Connections per second, a new connection per 64 B message (10 at a time)\n{/*0.8 AMD EPYC, 2 CPUs, Linux 6.18.44-fc-v1045, 2026-12-01 07:16 UTC}"
set xlabel ""
set ylabel "connections/s (median, min-max)"
set grid
set key outside right top box opaque
set border 3
set tics nomirror
set style fill solid 0.8 border -1
set boxwidth 0.6
set grid noxtics
set xtics rotate by -30 ("blocking" 0, "spin" 1, "select" 2, "poll" 3, "epoll" 4, "epoll-et" 5, "reactors" 6, "uring" 7, "threads" 8, "pool" 9, "fork" 10, "prefork" 11)
set xrange [-0.6:11.6]
set yrange [0:*]
unset key
set yrange [0:37161]
set label "client-bound" at 1, 30967.5 center offset 0,1.5 font ",9"
set label "client-bound" at 2, 30432.9 center offset 0,1.5 font ",9"
set label "client-bound" at 3, 29498 center offset 0,1.5 font ",9"
set label "client-bound" at 4, 28218.4 center offset 0,1.5 font ",9"
set label "client-bound" at 5, 26802.1 center offset 0,1.5 font ",9"
set label "client-bound" at 6, 25496.2 center offset 0,1.5 font ",9"
set label "client-bound" at 7, 21781.3 center offset 0,1.5 font ",9"
set label "client-bound" at 9, 18252.2 center offset 0,1.5 font ",9"
set label "client-bound" at 11, 23305.7 center offset 0,1.5 font ",9"
set terminal pngcairo size 900,520 font 'sans,10'
set output 'connect-rate.png'
plot 'connect-rate.dat' index 0 using 1:2 with boxes lc rgb '#000000' title 'blocking', \
     'connect-rate.dat' index 0 using 1:2:3:4 with yerrorbars lc rgb 'black' pt 0 notitle, \
     'connect-rate.dat' index 1 using 1:2 with boxes lc rgb '#e69f00' title 'spin', \
     'connect-rate.dat' index 1 using 1:2:3:4 with yerrorbars lc rgb 'black' pt 0 notitle, \
     'connect-rate.dat' index 2 using 1:2 with boxes lc rgb '#56b4e9' title 'select', \
     'connect-rate.dat' index 2 using 1:2:3:4 with yerrorbars lc rgb 'black' pt 0 notitle, \
     'connect-rate.dat' index 3 using 1:2 with boxes lc rgb '#009e73' title 'poll', \
     'connect-rate.dat' index 3 using 1:2:3:4 with yerrorbars lc rgb 'black' pt 0 notitle, \
     'connect-rate.dat' index 4 using 1:2 with boxes lc rgb '#0072b2' title 'epoll', \
     'connect-rate.dat' index 4 using 1:2:3:4 with yerrorbars lc rgb 'black' pt 0 notitle, \
     'connect-rate.dat' index 5 using 1:2 with boxes lc rgb '#0072b2' title 'epoll-et', \
     'connect-rate.dat' index 5 using 1:2:3:4 with yerrorbars lc rgb 'black' pt 0 notitle, \
     'connect-rate.dat' index 6 using 1:2 with boxes lc rgb '#0072b2' title 'reactors', \
     'connect-rate.dat' index 6 using 1:2:3:4 with yerrorbars lc rgb 'black' pt 0 notitle, \
     'connect-rate.dat' index 7 using 1:2 with boxes lc rgb '#882255' title 'uring', \
     'connect-rate.dat' index 7 using 1:2:3:4 with yerrorbars lc rgb 'black' pt 0 notitle, \
     'connect-rate.dat' index 8 using 1:2 with boxes lc rgb '#d55e00' title 'threads', \
     'connect-rate.dat' index 8 using 1:2:3:4 with yerrorbars lc rgb 'black' pt 0 notitle, \
     'connect-rate.dat' index 9 using 1:2 with boxes lc rgb '#d55e00' title 'pool', \
     'connect-rate.dat' index 9 using 1:2:3:4 with yerrorbars lc rgb 'black' pt 0 notitle, \
     'connect-rate.dat' index 10 using 1:2 with boxes lc rgb '#cc79a7' title 'fork', \
     'connect-rate.dat' index 10 using 1:2:3:4 with yerrorbars lc rgb 'black' pt 0 notitle, \
     'connect-rate.dat' index 11 using 1:2 with boxes lc rgb '#cc79a7' title 'prefork', \
     'connect-rate.dat' index 11 using 1:2:3:4 with yerrorbars lc rgb 'black' pt 0 notitle
set terminal svg size 900,520 font 'sans,10' dynamic
set output 'connect-rate.svg'
replot
